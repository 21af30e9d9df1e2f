/**
 * Operations of a CVM (opencvm's own read; not in the Phala API): every lifecycle call and update records
 * one, and this is where a client sees how it ended — e.g. the host's reason when it refused an update.
 */
import type { FastifyInstance } from 'fastify';
import { ErrorCodes, notFound, parseOrThrow, z } from '@opencvm/core';
import { principal, type Services } from '../http/context.ts';

interface OperationRow {
  correlation_id: string;
  kind: string;
  target_status: string;
  state: string;
  step: string | null;
  error: string | null;
  params: Record<string, unknown>;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

function operationShape(o: OperationRow) {
  return {
    correlation_id: o.correlation_id,
    kind: o.kind,
    // what an update was recorded as (resources, env_update, rollback, …)
    operation_type: typeof o.params.operation_type === 'string' ? o.params.operation_type : o.kind,
    target: o.target_status,
    state: o.state,
    step: o.step,
    error: o.error,
    created_at: iso(o.created_at),
    started_at: iso(o.started_at),
    finished_at: iso(o.finished_at),
  };
}

const listQuery = z.object({ limit: z.coerce.number().int().min(1).max(100).default(20) });
const COLUMNS = 'correlation_id, kind, target_status, state, step, error, params, created_at, started_at, finished_at';

export function operationRoutes(app: FastifyInstance, s: Services): void {
  app.get<{ Params: { id: string }; Querystring: Record<string, string> }>('/cvms/:id/operations', async (req) => {
    const cvm = await s.cvms.get(await principal(s, req), req.params.id);
    const { limit } = parseOrThrow(listQuery, req.query);
    const rows = await s.db.query<OperationRow>(`SELECT ${COLUMNS} FROM operations WHERE cvm_id = $1 ORDER BY id DESC LIMIT $2`, [cvm.id, limit]);
    return { items: rows.map(operationShape) };
  });

  app.get<{ Params: { id: string; correlation_id: string } }>('/cvms/:id/operations/:correlation_id', async (req) => {
    const cvm = await s.cvms.get(await principal(s, req), req.params.id);
    const id = req.params.correlation_id;
    const rows = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)
      ? await s.db.query<OperationRow>(`SELECT ${COLUMNS} FROM operations WHERE cvm_id = $1 AND correlation_id = $2::uuid`, [cvm.id, id])
      : [];
    if (!rows.length) throw notFound(ErrorCodes.CVM_NOT_FOUND, `CVM ${cvm.name} has no operation ${id}: list them with GET /cvms/${cvm.vm_uuid}/operations.`);
    return operationShape(rows[0]);
  });
}
