/** `ssh_keys`: a user's SSH public keys, and the key lines a CVM the user deploys gets. */
import type { Queryable } from '../db/index.ts';

/** An `ssh_keys` row. */
export interface SshKeyRow {
  id: string;
  user_id: number;
  name: string;
  public_key: string;
  fingerprint: string;
  key_type: string;
  source: 'manual' | 'github';
  key_metadata: Record<string, unknown> | null;
  last_synced_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

export type NewSshKey = Pick<SshKeyRow, 'id' | 'user_id' | 'name' | 'public_key' | 'fingerprint' | 'key_type' | 'source' | 'key_metadata'>;

const COLUMNS = 'id, user_id::int AS user_id, name, public_key, fingerprint, key_type, source, key_metadata, last_synced_at, created_at, updated_at';

/** The user's keys, oldest first. */
export function listSshKeys(q: Queryable, userId: number): Promise<SshKeyRow[]> {
  return q.query<SshKeyRow>(`SELECT ${COLUMNS} FROM ssh_keys WHERE user_id = $1 ORDER BY seq`, [userId]);
}

/**
 * Add a key unless the user has one with that fingerprint: the row inserted, or null (the existing one stays
 * as it is). A key from GitHub is stamped as listed now.
 */
export async function insertSshKey(q: Queryable, k: NewSshKey): Promise<SshKeyRow | null> {
  const [row] = await q.query<SshKeyRow>(
    `INSERT INTO ssh_keys (id, user_id, name, public_key, fingerprint, key_type, source, key_metadata, last_synced_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, CASE WHEN $7 = 'github' THEN now() END)
     ON CONFLICT (user_id, fingerprint) DO NOTHING
     RETURNING ${COLUMNS}`,
    [k.id, k.user_id, k.name, k.public_key, k.fingerprint, k.key_type, k.source, k.key_metadata === null ? null : JSON.stringify(k.key_metadata)],
  );
  return row ?? null;
}

/** The user's key with this fingerprint, if any. */
export async function sshKeyByFingerprint(q: Queryable, userId: number, fingerprint: string): Promise<SshKeyRow | null> {
  const [row] = await q.query<SshKeyRow>(`SELECT ${COLUMNS} FROM ssh_keys WHERE user_id = $1 AND fingerprint = $2`, [userId, fingerprint]);
  return row ?? null;
}

/** Delete the user's key with this id; whether there was one (another user's key is not touched). */
export async function deleteSshKey(q: Queryable, userId: number, id: string): Promise<boolean> {
  const rows = await q.query('DELETE FROM ssh_keys WHERE user_id = $1 AND id = $2 RETURNING id', [userId, id]);
  return rows.length > 0;
}

/** The key lines a CVM the user deploys gets (`ssh_authorized_keys`), oldest first. */
export async function authorizedKeyLines(q: Queryable, userId: number): Promise<string[]> {
  const rows = await q.query<{ public_key: string }>('SELECT public_key FROM ssh_keys WHERE user_id = $1 ORDER BY seq', [userId]);
  return rows.map((r) => r.public_key);
}

/** The GitHub accounts the user imported keys from, by name. */
export async function githubAccountsOf(q: Queryable, userId: number): Promise<string[]> {
  const rows = await q.query<{ github_username: string }>(
    `SELECT DISTINCT key_metadata->>'github_username' AS github_username FROM ssh_keys
      WHERE user_id = $1 AND source = 'github' AND key_metadata ? 'github_username' ORDER BY 1`,
    [userId],
  );
  return rows.map((r) => r.github_username);
}

/**
 * After reading a GitHub account's keys: its imported keys GitHub still lists (by fingerprint) are stamped as
 * listed now, the others removed. Answers how many of each.
 */
export async function reconcileGithubKeys(q: Queryable, userId: number, githubUsername: string, listed: string[]): Promise<{ kept: number; removed: number }> {
  const [row] = await q.query<{ kept: number; removed: number }>(
    `WITH mine AS (
       SELECT id, fingerprint = ANY($3::text[]) AS listed FROM ssh_keys
        WHERE user_id = $1 AND source = 'github' AND key_metadata->>'github_username' = $2
        FOR UPDATE
     ), kept AS (
       UPDATE ssh_keys SET last_synced_at = now(), updated_at = now() WHERE id IN (SELECT id FROM mine WHERE listed) RETURNING id
     ), removed AS (
       DELETE FROM ssh_keys WHERE id IN (SELECT id FROM mine WHERE NOT listed) RETURNING id
     )
     SELECT (SELECT count(*) FROM kept)::int AS kept, (SELECT count(*) FROM removed)::int AS removed`,
    [userId, githubUsername, listed],
  );
  return row;
}
