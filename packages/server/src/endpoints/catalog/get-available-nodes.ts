import { getAvailableNodes } from '@opencvm/contract';
import { kmsInfo, versionTuple } from '@opencvm/core';
import { route } from '../../http/endpoint.ts';

/** -1: the host did not report a limit for this resource, and placement does not cap it. */
const left = (max: number, used: number) => (max ? Math.max(0, max - used) : -1);

export default route(getAvailableNodes, async ({ services, principal }) => {
  const [nodes, kms] = await Promise.all([services.reads.nodeUsage(true), services.reads.kmsList()]);
  const defaultKms = kms.find((k) => k.kms_type === 'phala')?.id ?? null;
  return {
    tier: principal.workspaceTier,
    capacity: { max_instances: null, max_vcpu: null, max_memory: null, max_disk: null },
    nodes: nodes.map(({ node, images, used }) => ({
      teepod_id: node.id,
      name: node.name,
      listed: node.listed,
      resource_score: node.max_memory_mb ? Math.round((left(node.max_memory_mb, used.memory_mb) / node.max_memory_mb) * 100) / 100 : 1,
      remaining_vcpu: left(node.max_vcpu, used.vcpu),
      remaining_memory: left(node.max_memory_mb, used.memory_mb),
      remaining_cvm_slots: left(node.max_cvms, used.cvms),
      images: images.map((i) => ({
        name: i.name,
        is_dev: i.is_dev,
        version: versionTuple(i.version),
        os_image_hash: i.os_image_hash,
        requires_gpu: i.requires_gpu,
      })),
      support_onchain_kms: node.onchain_kms && kms.some((k) => k.chain_id !== null),
      fmspc: node.fmspc || null,
      device_id: node.device_id,
      region_identifier: node.region,
      default_kms: defaultKms,
      kms_list: kms.map((k) => k.id),
      gateway_base_domain: node.gateway_base_domain,
    })),
    kms_list: kms.map(kmsInfo),
  };
});
