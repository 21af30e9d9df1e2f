import { getAvailableNodes } from '@opencvm/contract';
import { kmsInfo } from '@opencvm/core';
import { route } from '../../http/endpoint.ts';
import { teepodCapacity } from '../../services/reads.ts';

export default route(getAvailableNodes, async ({ services, principal }) => {
  const [nodes, kms] = await Promise.all([services.reads.nodeUsage(true), services.reads.kmsList()]);
  return {
    tier: principal.workspaceTier,
    capacity: { max_instances: null, max_vcpu: null, max_memory: null, max_disk: null },
    nodes: nodes.map((n) => teepodCapacity(n, kms)),
    kms_list: kms.map(kmsInfo),
  };
});
