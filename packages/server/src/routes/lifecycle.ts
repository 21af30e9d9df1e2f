/** CVM lifecycle routes (seed 002, contract rows 15, 23–26, 37, 58, C3): each answers at once with a VM. */
import type { FastifyInstance } from 'fastify';
import { ApiError, ErrorCodes, parseOrThrow, vmShape, z } from '@opencvm/core';
import { principal, type Services } from '../http/context.ts';

const restartBody = z.object({ force: z.boolean({ error: 'force must be true or false' }).optional() }).optional();

export function lifecycleRoutes(app: FastifyInstance, s: Services): void {
  for (const kind of ['start', 'stop', 'shutdown'] as const) {
    app.post<{ Params: { id: string } }>(`/cvms/:id/${kind}`, async (req) =>
      vmShape(await s.lifecycle.act(await principal(s, req), req.params.id, kind)),
    );
  }

  app.post<{ Params: { id: string } }>('/cvms/:id/restart', async (req) => {
    const p = await principal(s, req);
    const body = parseOrThrow(restartBody, req.body ?? undefined);
    return vmShape(await s.lifecycle.act(p, req.params.id, 'restart', { force: body?.force ?? false }));
  });

  app.delete<{ Params: { id: string } }>('/cvms/:id', async (req, reply) => {
    const cvm = await s.lifecycle.act(await principal(s, req), req.params.id, 'delete');
    return reply.status(202).send({ id: cvm.vm_uuid, name: cvm.name, status: cvm.status, correlation_id: cvm.progress?.correlation_id ?? null });
  });

  app.post<{ Params: { id: string } }>('/cvms/:id/replicas', async (req) => {
    const p = await principal(s, req);
    rejectPrepareOnly(req.headers['x-prepare-only']);
    return vmShape(await s.lifecycle.replicate(p, req.params.id, req.body ?? undefined));
  });

  app.post<{ Params: { app_id: string } }>('/apps/:app_id/instances', async (req) => {
    const p = await principal(s, req);
    rejectPrepareOnly(req.headers['x-prepare-only']);
    return vmShape(await s.lifecycle.addInstance(p, req.params.app_id, req.body ?? undefined));
  });

  app.post<{ Params: { id: string } }>('/cvms/:id/commit-replica', async (req) => {
    await principal(s, req);
    throw new ApiError(400, ErrorCodes.INVALID_REQUEST,
      'commit-replica completes an on-chain KMS replica after its compose hash is registered; this server has no on-chain KMS yet. For PHALA KMS apps, POST /cvms/{id}/replicas creates the replica directly.');
  });
}

/** Prepare-only (commit tokens) belongs to the on-chain KMS flow, which this server does not offer yet. */
function rejectPrepareOnly(header: string | string[] | undefined) {
  if (String(header ?? '').toLowerCase() === 'true') {
    throw new ApiError(400, ErrorCodes.INVALID_REQUEST,
      'X-Prepare-Only is for on-chain KMS replicas, which this server does not offer yet: send the request without it.');
  }
}
