/**
 * The `operations` table: what the worker does with each CVM, one active (pending or running) operation per
 * CVM at a time (the `operations_one_active` unique index). Requests read a CVM's operations, its active
 * one, and insert one; the worker claims a due operation, holds it by a lease (`run_after`), records its
 * phase (`step`), and ends it. An operation is due when it is pending or running and its `run_after` has
 * passed: a running one whose lease lapsed (its worker died) is taken up again.
 */
import type { OperationKind, OperationState } from '@opencvm/core';
import type { Queryable } from '../db/index.ts';
import { liveOwners } from './owner-locks.ts';

/** What an operation carries for the worker (`params`): a restart's `force`, an update's change set, … */
export interface OperationParams {
  force?: boolean;
  triggered_by?: number;
  old_instance_id?: string | null;
  [key: string]: unknown;
}

/** An `operations` row (but `run_after`, the lease, which only the worker's statements use). */
export interface OperationRow {
  id: number;
  correlation_id: string;
  workspace_id: number;
  cvm_id: number;
  kind: OperationKind;
  target_status: string;
  state: OperationState;
  /** the phase it reached (booting, stopping, applying…): a resumed operation continues from it */
  step: string | null;
  /** the last error: a retriable one while it waits to run again, the reason once it failed */
  error: string | null;
  /** how many times it was claimed (the first run, each retry, each resumption) */
  attempts: number;
  params: OperationParams;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
}

const COLUMNS = 'id, correlation_id, workspace_id, cvm_id, kind, target_status, state, step, error, attempts, params, created_at, started_at, finished_at';
const LEASE = `now() + $2::int * interval '1 millisecond'`;

/**
 * The first key of the two-key advisory lock each worker holds for as long as it runs (`worker/owner-lock.ts`;
 * the second is its owner id, recorded on the operations it claims).
 */
export const WORKER_LOCK_NAMESPACE = 0x6f63766d;

/** The owners whose worker lock is held in this database: the workers that are alive. */
const LIVE_OWNERS = liveOwners(WORKER_LOCK_NAMESPACE);

/**
 * Make due now the running operations whose holder is gone: its worker lock is not held (the process died,
 * or its lock connection broke), or no holder was recorded. An operation whose worker is alive keeps its
 * lease until `run_after`. Answers how many were made due.
 */
export async function releaseOrphanedLeases(q: Queryable): Promise<number> {
  const rows = await q.query(
    `UPDATE operations SET run_after = now()
      WHERE state = 'running' AND run_after > now()
        AND (lease_owner IS NULL OR lease_owner::bigint NOT IN (${LIVE_OWNERS}))
      RETURNING id`,
  );
  return rows.length;
}

/**
 * Claim the oldest due operation for the worker `owner`, skipping rows another worker holds locked and the
 * ids in `exclude` (this worker's own, in hand): it becomes `running`, its attempts counted, leased to `owner`
 * for `leaseMs`.
 */
export async function claimDue(q: Queryable, leaseMs: number, owner: number, exclude: number[] = []): Promise<OperationRow | null> {
  const [op] = await q.query<OperationRow>(
    `UPDATE operations SET state = 'running', started_at = coalesce(started_at, now()), attempts = attempts + 1, run_after = ${LEASE},
            lease_owner = $3
      WHERE id = (SELECT id FROM operations
                   WHERE state IN ('pending', 'running') AND run_after <= now() AND id <> ALL($1::bigint[])
                   ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
      RETURNING ${COLUMNS}`,
    [exclude, leaseMs, owner],
  );
  return op ?? null;
}

/** Extend the lease of an operation still running and leased to `owner`; false if it is not (any more). */
export async function renewLease(q: Queryable, id: number, leaseMs: number, owner: number): Promise<boolean> {
  const rows = await q.query(`UPDATE operations SET run_after = ${LEASE} WHERE id = $1 AND state = 'running' AND lease_owner = $3 RETURNING id`, [
    id,
    leaseMs,
    owner,
  ]);
  return rows.length > 0;
}

/**
 * Record the phase an operation leased to `owner` reached (with `error`, if given); false, and nothing
 * written, if another worker took the operation over.
 */
export async function setOwnedStep(q: Queryable, id: number, owner: number, step: string, error?: string): Promise<boolean> {
  const rows = await q.query(
    `UPDATE operations SET step = $3, error = CASE WHEN $4::boolean THEN $5 ELSE error END WHERE id = $1 AND lease_owner = $2 RETURNING id`,
    [id, owner, step, error !== undefined, error ?? null],
  );
  return rows.length > 0;
}

/**
 * Lock the row of an operation still running and leased to `owner`, for the rest of the transaction `q`;
 * false if it is not (another worker took it over, or it ended).
 */
export async function lockOwnedOperation(q: Queryable, id: number, owner: number): Promise<boolean> {
  const rows = await q.query(`SELECT id FROM operations WHERE id = $1 AND lease_owner = $2 AND state = 'running' FOR UPDATE`, [id, owner]);
  return rows.length > 0;
}

/** Record the phase an operation reached; `error` is kept with it (a refused update's reason while it reverts). */
export async function setStep(q: Queryable, id: number, step: string, error?: string): Promise<void> {
  if (error === undefined) await q.query('UPDATE operations SET step = $2 WHERE id = $1', [id, step]);
  else await q.query('UPDATE operations SET step = $2, error = $3 WHERE id = $1', [id, step, error]);
}

/** A retriable failure: run it again after `delayMs`, the error kept on the row meanwhile. */
export async function scheduleRetry(q: Queryable, id: number, delayMs: number, error: string): Promise<void> {
  await q.query(`UPDATE operations SET run_after = now() + $2::int * interval '1 millisecond', error = $3 WHERE id = $1`, [id, Math.round(delayMs), error]);
}

export async function succeedOperation(q: Queryable, id: number, step: string): Promise<void> {
  await q.query(`UPDATE operations SET state = 'succeeded', step = $2, finished_at = now(), error = NULL WHERE id = $1`, [id, step]);
}

/** End an operation as failed with `error`; `step`, if given, is the phase it is recorded at. */
export async function failOperation(q: Queryable, id: number, error: string, step?: string): Promise<void> {
  await q.query(`UPDATE operations SET state = 'failed', step = coalesce($3, step), error = $2, finished_at = now() WHERE id = $1`, [id, error, step ?? null]);
}

/** How many operations are pending or running. */
export async function countActive(q: Queryable): Promise<number> {
  const [r] = await q.query<{ n: number }>(`SELECT count(*)::int AS n FROM operations WHERE state IN ('pending', 'running')`);
  return r.n;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A CVM's operations, newest first. */
export function listOperations(q: Queryable, cvmId: number, limit: number): Promise<OperationRow[]> {
  return q.query<OperationRow>(`SELECT ${COLUMNS} FROM operations WHERE cvm_id = $1 ORDER BY id DESC LIMIT $2`, [cvmId, limit]);
}

/** One operation of a CVM by correlation id (null for anything that is not one of its correlation ids). */
export async function findOperation(q: Queryable, cvmId: number, correlationId: string): Promise<OperationRow | null> {
  if (!UUID.test(correlationId)) return null;
  const [row] = await q.query<OperationRow>(`SELECT ${COLUMNS} FROM operations WHERE cvm_id = $1 AND correlation_id = $2::uuid`, [cvmId, correlationId]);
  return row ?? null;
}

/** The CVM's active (pending or running) operation, if any. */
export async function activeOperation(q: Queryable, cvmId: number): Promise<Pick<OperationRow, 'kind' | 'correlation_id' | 'created_at'> | null> {
  const [op] = await q.query<Pick<OperationRow, 'kind' | 'correlation_id' | 'created_at'>>(
    `SELECT kind, correlation_id, created_at FROM operations WHERE cvm_id = $1 AND state IN ('pending', 'running')`,
    [cvmId],
  );
  return op ?? null;
}

export interface NewOperation {
  correlation_id: string;
  workspace_id: number;
  cvm_id: number;
  kind: string;
  target_status: string;
  params: object;
  /** `succeeded`: a change that needed no host work, recorded as started and finished now with its `step` */
  state: 'pending' | 'succeeded';
  step: string | null;
}

/**
 * Record an operation. A second active one for the same CVM violates `operations_one_active` (SQLSTATE
 * 23505), which the caller turns into its 409.
 */
export async function insertOperation(q: Queryable, o: NewOperation): Promise<Pick<OperationRow, 'id' | 'correlation_id'>> {
  const done = o.state === 'succeeded';
  const [row] = await q.query<Pick<OperationRow, 'id' | 'correlation_id'>>(
    `INSERT INTO operations (correlation_id, workspace_id, cvm_id, kind, target_status, state, params, step, started_at, finished_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, ${done ? 'now(), now()' : 'NULL, NULL'}) RETURNING id, correlation_id`,
    [o.correlation_id, o.workspace_id, o.cvm_id, o.kind, o.target_status, o.state, JSON.stringify(o.params), o.step],
  );
  return row;
}
