/** The `operations` table: what the worker does with each CVM, one active operation per CVM at a time. */
import type { OperationKind, OperationState } from '@opencvm/core';
import type { Queryable } from '../db/index.ts';

export interface OperationRow {
  id: number;
  correlation_id: string;
  workspace_id: number;
  cvm_id: number;
  kind: OperationKind;
  target_status: string;
  state: OperationState;
  step: string | null;
  error: string | null;
  attempts: number;
  params: Record<string, unknown>;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A CVM's operations, newest first. */
export function listOperations(q: Queryable, cvmId: number, limit: number): Promise<OperationRow[]> {
  return q.query<OperationRow>('SELECT * FROM operations WHERE cvm_id = $1 ORDER BY id DESC LIMIT $2', [cvmId, limit]);
}

/** One operation of a CVM by correlation id (null for anything that is not one of its correlation ids). */
export async function findOperation(q: Queryable, cvmId: number, correlationId: string): Promise<OperationRow | null> {
  if (!UUID.test(correlationId)) return null;
  const [row] = await q.query<OperationRow>('SELECT * FROM operations WHERE cvm_id = $1 AND correlation_id = $2::uuid', [cvmId, correlationId]);
  return row ?? null;
}
