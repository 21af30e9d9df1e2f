/**
 * What every service that queues work on a CVM shares: one active operation per CVM (a second one is
 * a 409 ERR-03-009 with a retry hint), and how an operation row is written.
 */
import { randomUUID } from 'node:crypto';
import { ErrorCodes, conflict, type ApiError } from '@opencvm/core';
import type { Db, Queryable } from '../db/index.ts';
import { activeOperation, insertOperation, type OperationRow } from '../store/operations.ts';

export function busy(name: string, op?: { kind: string; correlation_id: string; created_at: Date }): ApiError {
  return conflict(
    ErrorCodes.CVM_BUSY,
    op
      ? `CVM ${name} is busy with a ${op.kind} operation (correlation_id ${op.correlation_id}, started ${op.created_at.toISOString()}): retry when it has finished.`
      : `CVM ${name} is busy with another operation: retry when it has finished.`,
    {
      headers: { 'retry-after': '3' },
      suggestions: [`Watch GET /cvms/${name}/state until the status settles, then retry.`],
    },
  );
}

/** Throw the 409 if the CVM has an operation pending or running. */
export async function assertIdle(q: Queryable, cvmId: number, name: string): Promise<void> {
  const op = await activeOperation(q, cvmId);
  if (op) throw busy(name, op);
}

/**
 * Record an operation; `state` 'succeeded' records a change that needed no host work (its `step` is 'done',
 * or e.g. 'unchanged' for a change that changed nothing). Answers its correlation id.
 */
export async function queueOperation(
  q: Queryable,
  o: { workspaceId: number; cvmId: number; kind: string; target: string; params?: object; state?: 'pending' | 'succeeded'; step?: string },
): Promise<{ id: number; correlation_id: string }> {
  const state = o.state ?? 'pending';
  return insertOperation(q, {
    correlation_id: randomUUID(),
    workspace_id: o.workspaceId,
    cvm_id: o.cvmId,
    kind: o.kind,
    target_status: o.target,
    state,
    params: o.params ?? {},
    step: state === 'succeeded' ? (o.step ?? 'done') : null,
  });
}

/** Run a transaction; a race on the one-active-operation index becomes the same 409 as assertIdle's. */
export async function withBusyCheck<T>(db: Db, name: string, fn: (q: Queryable) => Promise<T>): Promise<T> {
  try {
    return await db.tx(fn);
  } catch (e) {
    if ((e as { code?: string }).code === '23505' && String((e as Error).message).includes('operations_one_active')) {
      throw busy(name);
    }
    throw e;
  }
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

/** An operation as `GET /cvms/{id}/operations[/{correlation_id}]` answers it. */
export function operationShape(o: OperationRow) {
  return {
    correlation_id: o.correlation_id,
    kind: o.kind,
    // what an update was recorded as (resources, env_update, rollback, …)
    operation_type: typeof o.params.operation_type === 'string' ? o.params.operation_type : o.kind,
    target: o.target_status,
    state: o.state,
    step: o.step,
    error: o.error,
    reason: typeof o.params.reason === 'string' ? o.params.reason : null,
    created_at: o.created_at.toISOString(),
    started_at: iso(o.started_at),
    finished_at: iso(o.finished_at),
  };
}
