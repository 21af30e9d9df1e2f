/**
 * Instance-id routes (issue 5; `services/instance-ids.ts` explains both forms).
 * - seed 004: `POST /cvms/{id}/refresh-instance-id` and `POST /cvms/refresh-instance-ids` `{ids}` queue a
 *   NEW instance id (the VM is created again; the guest generates it at that boot): 202 with the result
 *   and its `correlation_id`; the batch answers 200 with one item per id.
 * - SDK 0.2.9 (contract rows 39–40): `PATCH /cvms/{id}/instance-id` `{overwrite?, dry_run?}` and
 *   `PATCH /cvms/instance-ids` record the id the host reports (no VM is touched).
 * The static `/cvms/instance-ids` and `/cvms/refresh-instance-ids` win over the `/cvms/:id` routes in
 * fastify's router (a CVM named "instance-ids" is reached by its uuid for a `PATCH /cvms/{id}`).
 */
import type { FastifyInstance } from 'fastify';
import { principal, type Services } from '../http/context.ts';

export function instanceIdRoutes(app: FastifyInstance, s: Services): void {
  app.post<{ Params: { id: string } }>('/cvms/:id/refresh-instance-id', async (req, reply) =>
    reply.status(202).send(await s.instanceIds.renew(await principal(s, req), req.params.id)),
  );

  app.post('/cvms/refresh-instance-ids', async (req) => s.instanceIds.renewMany(await principal(s, req), req.body));

  app.patch<{ Params: { id: string } }>('/cvms/:id/instance-id', async (req) =>
    s.instanceIds.sync(await principal(s, req), req.params.id, req.body),
  );

  app.patch('/cvms/instance-ids', async (req) => s.instanceIds.syncMany(await principal(s, req), req.body));
}
