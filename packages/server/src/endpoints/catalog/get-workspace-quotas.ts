import { getWorkspaceQuotas } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';
import type { NodeUsage } from '../../services/reads.ts';

/**
 * A self-hosted workspace has no quota of its own: its limit is what the online hosts can hold, and what
 * remains is that minus every CVM placed on them; -1 = not limited (a host reports no cap).
 */
export default route(getWorkspaceQuotas, async ({ services, principal, params }) => {
  const w = await services.reads.workspace(principal, params.slug);
  const nodes = await services.reads.nodeUsage(true);
  const metric = (max: (n: NodeUsage) => number, used: (n: NodeUsage) => number) => {
    if (nodes.some((n) => !max(n))) return { limit: -1, remaining: -1 };
    const limit = nodes.reduce((sum, n) => sum + max(n), 0);
    return { limit, remaining: Math.max(0, limit - nodes.reduce((sum, n) => sum + used(n), 0)) };
  };
  return {
    team_slug: w.slug,
    tier: w.tier,
    quotas: {
      vm_slots: metric((n) => n.node.max_cvms, (n) => n.used.cvms),
      vcpu: metric((n) => n.node.max_vcpu, (n) => n.used.vcpu),
      memory_mb: metric((n) => n.node.max_memory_mb, (n) => n.used.memory_mb),
      disk_gb: { limit: -1, remaining: -1 },
    },
    reserved_nodes: { limit: 0, remaining: 0 },
    reserved_gpu: { gpus: { limit: 0, remaining: 0 }, in_use: 0, misconfigured: 0 },
    as_of: new Date().toISOString(),
  };
});
