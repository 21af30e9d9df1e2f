/**
 * Revisions: the `revisions` table. Every change that moves a CVM's compose hash (the first deploy, a
 * replica, an update, a rollback) is recorded as a revision of its app: what ran, who asked, through which
 * operation, recorded from the CVM row as it now is. Revisions are immutable (a trigger refuses UPDATE and
 * DELETE). Here: the writer, and the reads of `GET /apps/{app_id}/revisions[/{revision_id}]` and the rollback.
 */
import { randomBytes } from 'node:crypto';
import type { Queryable } from '../db/index.ts';

/** A `revisions` row. */
export interface RevisionRow {
  id: number;
  /** `rev_<16 hex>`, the id clients see */
  revision_id: string;
  workspace_id: number;
  app_id: string;
  cvm_id: number;
  compose_hash: string;
  /** the exact hashed text */
  app_compose: string;
  encrypted_env: string | null;
  env_keys: string[];
  user_config: string | null;
  /** create | replicate | update | compose_update | env_update | rollback ... */
  operation_type: string;
  operation_id: number | null;
  correlation_id: string | null;
  /** the user who asked */
  triggered_by: number | null;
  created_at: Date;
}

/** A new revision's id, as clients see it: `rev_<16 hex>`. */
export const newRevisionId = () => `rev_${randomBytes(8).toString('hex')}`;

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
    [r.cvmId, newRevisionId(), r.operationType, r.operationId ?? null, r.correlationId ?? null, r.userId],
  );
}

/** A revision with what its shapes name: its CVM, the user who asked, the workspace. */
export interface RevisionListing
  extends Pick<
    RevisionRow,
    'revision_id' | 'app_id' | 'cvm_id' | 'compose_hash' | 'app_compose' | 'encrypted_env' | 'env_keys' | 'user_config' | 'operation_type' | 'correlation_id' | 'created_at'
  > {
  vm_uuid: string;
  cvm_name: string;
  u_id: number | null;
  u_username: string | null;
  w_id: number;
  w_name: string;
  w_slug: string;
}

const LISTING = `
SELECT r.revision_id, r.app_id, c.vm_uuid, c.id AS cvm_id, c.name AS cvm_name, r.compose_hash, r.app_compose, r.encrypted_env,
       r.env_keys, r.user_config, r.operation_type, r.correlation_id, r.created_at, u.id AS u_id, u.username AS u_username,
       w.id AS w_id, w.name AS w_name, w.slug AS w_slug
  FROM revisions r JOIN cvms c ON c.id = r.cvm_id JOIN workspaces w ON w.id = r.workspace_id
  LEFT JOIN users u ON u.id = r.triggered_by`;

export async function countRevisions(q: Queryable, appId: string): Promise<number> {
  const [{ n }] = await q.query<{ n: number }>('SELECT count(*)::int AS n FROM revisions WHERE app_id = $1', [appId]);
  return n;
}

/** An app's revisions, newest first. */
export function listRevisions(q: Queryable, appId: string, page: { limit: number; offset: number }): Promise<RevisionListing[]> {
  return q.query<RevisionListing>(`${LISTING} WHERE r.app_id = $1 ORDER BY r.id DESC LIMIT $2 OFFSET $3`, [appId, page.limit, page.offset]);
}

export async function findRevision(q: Queryable, appId: string, revisionId: string): Promise<RevisionListing | null> {
  const [r] = await q.query<RevisionListing>(`${LISTING} WHERE r.app_id = $1 AND r.revision_id = $2`, [appId, revisionId]);
  return r ?? null;
}
