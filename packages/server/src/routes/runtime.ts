/**
 * Runtime reads under /api/v1 (contract #27 stats, #28 network, #30 composition): served from the store
 * (`cvms.runtime`, kept fresh by the runtime reconciler), workspace-scoped like every CVM read.
 */
import type { FastifyInstance } from 'fastify';
import { principal, type Services } from '../http/context.ts';

export function runtimeRoutes(app: FastifyInstance, s: Services): void {
  app.get<{ Params: { id: string } }>('/cvms/:id/composition', async (req) => s.runtime.composition(await principal(s, req), req.params.id));
  app.get<{ Params: { id: string } }>('/cvms/:id/stats', async (req) => s.runtime.stats(await principal(s, req), req.params.id));
  app.get<{ Params: { id: string } }>('/cvms/:id/network', async (req) => s.runtime.network(await principal(s, req), req.params.id));
}
