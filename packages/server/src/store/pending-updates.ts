/**
 * Phase one of a two-phase configuration update: the `pending_updates` table. A compose-file provision
 * (`POST /cvms/{id}/compose_file/provision`) is found again by CVM and compose hash; a prepare-only
 * `PATCH /cvms/{id}` by its one-time commit token, of which only the SHA-256 is stored. Each is used once.
 * An on-chain KMS replica kept until its app's contract allows its device (`prepared_replica`) is a row of the
 * same table: its source CVM, the app's compose hash, and where and with what env the replica is to be made.
 */
import type { ConfigPatch } from '@opencvm/core';
import type { Queryable } from '../db/index.ts';

export type PendingUpdateKind = 'compose_provision' | 'prepared_patch' | 'prepared_replica';

/** What a `prepared_replica` row keeps (in `change`): the node it goes to, and its sealed env if it has its own. */
export interface PreparedReplica {
  node_id: number;
  encrypted_env: string | null;
}

/** A `pending_updates` row. */
export interface PendingUpdateRow {
  id: number;
  kind: PendingUpdateKind;
  workspace_id: number;
  cvm_id: number;
  /** the hash the change leads to */
  compose_hash: string;
  /** the CVM's hash when it was prepared */
  base_hash: string;
  /** SHA-256 of the commit token (prepared_patch only) */
  token_hash: string | null;
  change: ConfigPatch;
  created_by: number | null;
  created_at: Date;
  expires_at: Date;
  used_at: Date | null;
  /**
   * what the app's contract on chain must allow before the kept change can be made (`compose_hash`, `device`);
   * a row that names any is a `cvm.update.pending_approval` event (020_phala_event_types.sql)
   */
  awaiting: ('compose_hash' | 'device')[] | null;
}

type NewPendingUpdate = Pick<PendingUpdateRow, 'workspace_id' | 'cvm_id' | 'compose_hash' | 'base_hash' | 'change' | 'created_by'>;

/** Keep a compose-file provision for `ttlMs` from now (the database's clock). */
export async function insertComposeProvision(q: Queryable, u: NewPendingUpdate, ttlMs: number): Promise<void> {
  await q.query(
    `INSERT INTO pending_updates (kind, workspace_id, cvm_id, compose_hash, base_hash, change, created_by, expires_at)
     VALUES ('compose_provision', $1, $2, $3, $4, $5, $6, now() + ($7 || ' milliseconds')::interval)`,
    [u.workspace_id, u.cvm_id, u.compose_hash, u.base_hash, JSON.stringify(u.change), u.created_by, String(ttlMs)],
  );
}

/** Keep a prepared patch under its token's hash for `ttlMs` from now; answers when it expires. */
export function insertPreparedPatch(q: Queryable, u: NewPendingUpdate & { token_hash: string; awaiting?: PendingUpdateRow['awaiting'] }, ttlMs: number): Promise<Date> {
  return insertWithToken(q, 'prepared_patch', u, u.change, ttlMs);
}

/** A pending row found by its token's hash (`change`: what it keeps), expiring `ttlMs` from now. */
async function insertWithToken(
  q: Queryable,
  kind: 'prepared_patch' | 'prepared_replica',
  u: Omit<NewPendingUpdate, 'change'> & { token_hash: string; awaiting?: PendingUpdateRow['awaiting'] },
  change: unknown,
  ttlMs: number,
): Promise<Date> {
  const [pending] = await q.query<Pick<PendingUpdateRow, 'expires_at'>>(
    `INSERT INTO pending_updates (kind, workspace_id, cvm_id, compose_hash, base_hash, token_hash, change, created_by, expires_at, awaiting)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now() + ($9 || ' milliseconds')::interval, $10) RETURNING expires_at`,
    [kind, u.workspace_id, u.cvm_id, u.compose_hash, u.base_hash, u.token_hash, JSON.stringify(change), u.created_by, String(ttlMs), u.awaiting?.length ? u.awaiting : null],
  );
  return pending.expires_at;
}

/** The newest compose-file provision of a CVM for a compose hash, used or not. */
export async function latestComposeProvision(
  q: Queryable,
  cvmId: number,
  composeHash: string,
): Promise<Pick<PendingUpdateRow, 'id' | 'base_hash' | 'change' | 'expires_at' | 'used_at'> | null> {
  const [row] = await q.query<Pick<PendingUpdateRow, 'id' | 'base_hash' | 'change' | 'expires_at' | 'used_at'>>(
    `SELECT id, base_hash, change, expires_at, used_at FROM pending_updates
      WHERE kind = 'compose_provision' AND cvm_id = $1 AND compose_hash = $2 ORDER BY id DESC LIMIT 1`,
    [cvmId, composeHash],
  );
  return row ?? null;
}

/** The prepared patch of a workspace with this token hash, used or not. */
export async function findPreparedPatch(
  q: Queryable,
  tokenHash: string,
  workspaceId: number,
): Promise<Pick<PendingUpdateRow, 'id' | 'cvm_id' | 'compose_hash' | 'base_hash' | 'change' | 'expires_at' | 'used_at'> | null> {
  const [row] = await q.query<Pick<PendingUpdateRow, 'id' | 'cvm_id' | 'compose_hash' | 'base_hash' | 'change' | 'expires_at' | 'used_at'>>(
    `SELECT id, cvm_id, compose_hash, base_hash, change, expires_at, used_at FROM pending_updates
      WHERE kind = 'prepared_patch' AND token_hash = $1 AND workspace_id = $2`,
    [tokenHash, workspaceId],
  );
  return row ?? null;
}

/** Mark a pending update used, unless it was already: true if this call did. */
export async function claimPendingUpdate(q: Queryable, id: number): Promise<boolean> {
  const claimed = await q.query('UPDATE pending_updates SET used_at = now() WHERE id = $1 AND used_at IS NULL RETURNING id', [id]);
  return claimed.length > 0;
}

/**
 * The prepared patch of a CVM that leads to a compose hash (what an on-chain confirmation names): the newest
 * unused one, else the newest used one (so the caller can say it was used).
 */
export async function preparedPatchFor(
  q: Queryable,
  cvmId: number,
  composeHash: string,
): Promise<Pick<PendingUpdateRow, 'id' | 'compose_hash' | 'base_hash' | 'change' | 'expires_at' | 'used_at'> | null> {
  const [row] = await q.query<Pick<PendingUpdateRow, 'id' | 'compose_hash' | 'base_hash' | 'change' | 'expires_at' | 'used_at'>>(
    `SELECT id, compose_hash, base_hash, change, expires_at, used_at FROM pending_updates
      WHERE kind = 'prepared_patch' AND cvm_id = $1 AND compose_hash = $2
      ORDER BY (used_at IS NULL) DESC, id DESC LIMIT 1`,
    [cvmId, composeHash],
  );
  return row ?? null;
}

/** Keep a replica of an on-chain KMS app under its token's hash for `ttlMs` from now; answers when it expires. */
export function insertPreparedReplica(
  q: Queryable,
  u: Omit<NewPendingUpdate, 'change'> & { token_hash: string; replica: PreparedReplica; awaiting?: PendingUpdateRow['awaiting'] },
  ttlMs: number,
): Promise<Date> {
  return insertWithToken(q, 'prepared_replica', u, u.replica, ttlMs);
}

/** The kept replica of a workspace with this token hash, used or not. */
export async function findPreparedReplica(
  q: Queryable,
  tokenHash: string,
  workspaceId: number,
): Promise<(Pick<PendingUpdateRow, 'id' | 'cvm_id' | 'compose_hash' | 'expires_at' | 'used_at'> & { replica: PreparedReplica }) | null> {
  const [row] = await q.query<Pick<PendingUpdateRow, 'id' | 'cvm_id' | 'compose_hash' | 'expires_at' | 'used_at'> & { replica: PreparedReplica }>(
    `SELECT id, cvm_id, compose_hash, change AS replica, expires_at, used_at FROM pending_updates
      WHERE kind = 'prepared_replica' AND token_hash = $1 AND workspace_id = $2`,
    [tokenHash, workspaceId],
  );
  return row ?? null;
}
