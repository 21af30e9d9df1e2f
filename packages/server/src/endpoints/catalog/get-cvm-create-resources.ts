import { getCvmCreateResources } from '@opencvm/contract';
import { gpuCountOf } from '@opencvm/core';
import { route } from '../../http/endpoint.ts';
import { freeGpuCount, nodeQuotas, nodeTakesKms, teepodCapacity } from '../../services/reads.ts';

/**
 * The Python SDK's `get_cvm_create_resources`: the nodes of `GET /teepods/available`, the limits of
 * `GET /workspaces/{slug}/quotas`, the catalogue of `GET /instance-types`, and which node takes which KMS.
 * Each KMS here is its own KMS contract (as `GET /kms` answers from X-Phala-Version 2026-06-23), so
 * `kms_contract_id` is the KMS's id. A node's gateway (the domain its dstack-vmm reports) serves the CVMs of every
 * KMS the node takes: one gateway entry per node and KMS.
 */
export default route(getCvmCreateResources, async ({ services, principal }) => {
  const [nodes, kms] = await Promise.all([services.reads.nodeUsage(true), services.reads.kmsList()]);
  const limit = (q: { limit: number }) => (q.limit < 0 ? null : q.limit);
  const quotas = nodeQuotas(nodes);
  const relations = nodes.flatMap((n) =>
    kms.filter((k) => nodeTakesKms(n.node, k)).map((k) => ({ node: n, kms: k, images: [...new Set(n.images.map((i) => i.name))] })),
  );
  const types = services.catalog.instanceTypeFamilies().result.flatMap((f) => f.items);
  const freeGpus = freeGpuCount(nodes);
  return {
    tier: principal.workspaceTier,
    capacity: { max_instances: limit(quotas.vm_slots), max_vcpu: limit(quotas.vcpu), max_memory: limit(quotas.memory_mb), max_disk: null },
    nodes: nodes.map((n) => teepodCapacity(n, kms)),
    kms_nodes: kms.map((k) => ({
      id: k.id,
      slug: k.slug,
      url: k.url,
      version: k.version,
      kms_type: k.kms_type,
      chain_id: k.chain_id,
      kms_contract_id: k.id,
      kms_contract_address: k.kms_contract_address,
      gateway_app_id: k.gateway_app_id,
      supported_os_images: [...new Set(relations.filter((r) => r.kms.id === k.id).flatMap((r) => r.images))].sort(),
    })),
    node_kms_relations: relations.map((r) => ({
      teepod_id: r.node.node.id,
      kms_id: r.kms.id,
      kms_type: r.kms.kms_type,
      kms_contract_id: r.kms.id,
      kms_contract_address: r.kms.kms_contract_address,
      supported_os_images: r.images,
    })),
    gateway_nodes: relations.flatMap((r) =>
      r.node.node.gateway_base_domain
        ? [{
            id: `${r.node.node.id}-${r.kms.id}`,
            teepod_id: r.node.node.id,
            kms_contract_id: r.kms.id,
            rpc_url: null,
            domain_suffix: r.node.node.gateway_base_domain,
            enabled: !r.node.node.cordoned,
          }]
        : [],
    ),
    instance_types: types.map((t, i) => ({
      id: t.id,
      name: t.name,
      vcpu: t.vcpu,
      memory_mb: t.memory_mb,
      default_disk_size_gb: t.default_disk_size_gb,
      requires_gpu: t.requires_gpu,
      requires_gpu_count: gpuCountOf(t),
      family: t.family,
      display_order: i,
    })),
    gpu_availability: { has_reserved_gpus: false, reserved_gpu_count: 0, has_public_gpus: freeGpus > 0, public_gpu_count: freeGpus },
  };
});
