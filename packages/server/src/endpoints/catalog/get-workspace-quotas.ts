import { getWorkspaceQuotas } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';
import { nodeQuotas } from '../../services/reads.ts';

/** A self-hosted workspace has no quota of its own: what the online hosts can hold (`nodeQuotas`). */
export default route(getWorkspaceQuotas, async ({ services, principal, params }) => {
  const w = await services.reads.workspace(principal, params.slug);
  const quotas = nodeQuotas(await services.reads.nodeUsage(true));
  return {
    team_slug: w.slug,
    tier: w.tier,
    quotas: { ...quotas, disk_gb: { limit: -1, remaining: -1 } },
    reserved_nodes: { limit: 0, remaining: 0 },
    reserved_gpu: { gpus: { limit: 0, remaining: 0 }, in_use: 0, misconfigured: 0 },
    as_of: new Date().toISOString(),
  };
});
