/**
 * Writing revisions: every change that moves a CVM's compose hash (the first deploy, a replica, an update)
 * is recorded from the CVM row as it now is. Revisions are immutable (a trigger refuses UPDATE and DELETE).
 */
import { randomBytes } from 'node:crypto';
import type { Queryable } from '../db/index.ts';

/** Record the CVM's current configuration as a revision (after the change is on the record). */
export async function recordRevision(
  q: Queryable,
  r: { cvmId: number; userId: number | null; operationType: string; operationId?: number | null; correlationId?: string | null },
): Promise<void> {
  await q.query(
    `INSERT INTO revisions (revision_id, workspace_id, app_id, cvm_id, compose_hash, app_compose, encrypted_env, env_keys,
                            user_config, operation_type, operation_id, correlation_id, triggered_by)
     SELECT $2, workspace_id, app_id, id, compose_hash, app_compose, encrypted_env, env_keys, user_config, $3, $4, $5, $6
       FROM cvms WHERE id = $1`,
    [r.cvmId, `rev_${randomBytes(8).toString('hex')}`, r.operationType, r.operationId ?? null, r.correlationId ?? null, r.userId],
  );
}
