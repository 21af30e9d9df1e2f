/**
 * Workspaces and who may act in them: the `workspaces`, `users`, `workspace_members` and `api_keys` tables.
 * API keys are stored as the SHA-256 of the key only.
 */
import type { Role } from '@opencvm/contract';
import type { WorkspaceRecord } from '@opencvm/core';
import type { Queryable } from '../db/index.ts';

/** A `workspaces` row. */
export interface WorkspaceRow {
  id: number;
  name: string;
  slug: string;
  tier: string;
  /** the workspace's deployer address: PHALA-KMS app ids are CREATE addresses of (team_wallet, nonce) */
  team_wallet: string;
  next_nonce: number;
  created_at: Date;
}

/** A `users` row. */
export interface UserRow {
  id: number;
  username: string;
  email: string;
  role: string;
  created_at: Date;
}

/** A `workspace_members` row. */
export interface MemberRow {
  workspace_id: number;
  user_id: number;
  role: string;
}

/** An `api_keys` row. */
export interface ApiKeyRow {
  id: number;
  workspace_id: number;
  user_id: number;
  /** SHA-256 of the key, hex */
  key_hash: string;
  /** the key's first characters, so a user can tell keys apart */
  prefix: string;
  name: string;
  created_at: Date;
  revoked_at: Date | null;
  /** when the key stops working (null: never) */
  expires_at: Date | null;
  /** the last request made with it, to the minute (written at most once a minute) */
  last_used_at: Date | null;
}

/** Who a request acts as: the workspace and user of its API key. */
export interface Principal {
  workspaceId: number;
  workspaceName: string;
  workspaceSlug: string;
  workspaceTier: string;
  userId: number;
  username: string;
  email: string;
  /** the user's role on the server (`users.role`: `admin` or `user`), as GET /auth/me shows it */
  role: string;
  /** the user's role in the key's workspace, read with the key at every request */
  memberRole: Role;
}

// ---------------------------------------------------------------- API keys

/** An unrevoked key found by its hash: whose it is, and whether it has expired or should record its use. */
export interface KeyLookup {
  principal: Principal;
  keyId: number;
  expiresAt: Date | null;
  /** by the database's clock: `expires_at` has passed */
  expired: boolean;
  /** by the database's clock: `last_used_at` is unset or more than a minute old */
  useStale: boolean;
}

/**
 * The unrevoked key with this hash and its principal: one read by the unique index on `key_hash`, made at
 * every request (a revoked or expired key is refused at once on every server). The key's user must still be a
 * member of its workspace (a removed member's keys find nothing), and the role is the membership's as it is now. Expiry and staleness are
 * judged by the database's clock, the same for every server.
 */
export async function keyByHash(q: Queryable, keyHash: string): Promise<KeyLookup | null> {
  const [row] = await q.query<Principal & { keyId: string; expiresAt: Date | null; expired: boolean; useStale: boolean }>(
    `SELECT w.id AS "workspaceId", w.name AS "workspaceName", w.slug AS "workspaceSlug", w.tier AS "workspaceTier",
            u.id AS "userId", u.username, u.email, u.role, m.role AS "memberRole",
            k.id AS "keyId", k.expires_at AS "expiresAt",
            coalesce(k.expires_at <= now(), false) AS expired,
            coalesce(k.last_used_at < now() - interval '1 minute', true) AS "useStale"
       FROM api_keys k JOIN workspaces w ON w.id = k.workspace_id JOIN users u ON u.id = k.user_id
            JOIN workspace_members m ON m.workspace_id = k.workspace_id AND m.user_id = k.user_id
      WHERE k.key_hash = $1 AND k.revoked_at IS NULL`,
    [keyHash],
  );
  if (!row) return null;
  const { keyId, expiresAt, expired, useStale, ...principal } = row;
  return { principal: { ...principal, workspaceId: Number(principal.workspaceId), userId: Number(principal.userId) }, keyId: Number(keyId), expiresAt, expired, useStale };
}

/**
 * Record that the key was used now, unless that was recorded less than a minute ago (by whichever server):
 * at most one write of the row a minute, however many requests and servers.
 */
export async function touchApiKey(q: Queryable, keyId: number): Promise<void> {
  await q.query(
    `UPDATE api_keys SET last_used_at = now()
      WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')`,
    [keyId],
  );
}

/** An API key as `GET /tokens` shows it: the row, its workspace's name and slug, and whether it has expired. */
export type ApiKeyListing = ApiKeyRow & { team_name: string; team_slug: string; expired: boolean };

const KEY_LISTING = `k.id::int AS id, k.workspace_id::int AS workspace_id, k.user_id::int AS user_id, k.key_hash, k.prefix, k.name,
       k.created_at, k.revoked_at, k.expires_at, k.last_used_at, w.name AS team_name, w.slug AS team_slug,
       coalesce(k.expires_at <= now(), false) AS expired`;

/**
 * The workspace's unrevoked keys (expired ones included; with `onlyOwn`, only `userId`'s), newest first; with
 * `allOwned`, also those of every other workspace `userId` owns.
 */
export function liveApiKeys(q: Queryable, workspaceId: number, o: { userId: number; allOwned: boolean; onlyOwn: boolean }): Promise<ApiKeyListing[]> {
  return q.query<ApiKeyListing>(
    `SELECT ${KEY_LISTING}
       FROM api_keys k JOIN workspaces w ON w.id = k.workspace_id
      WHERE k.revoked_at IS NULL
        AND ((k.workspace_id = $1 AND (NOT $4 OR k.user_id = $3))
             OR ($2 AND k.workspace_id IN (SELECT workspace_id FROM workspace_members WHERE user_id = $3 AND role = 'owner')))
      ORDER BY k.id DESC`,
    [workspaceId, o.allOwned, o.userId, o.onlyOwn],
  );
}

/**
 * Revoke the workspace's key with this id (with `ownerId`, only if it is that user's): `revoked`, `already`
 * (revoked before), or `none` (no such key in the workspace: another workspace's or user's, unknown).
 */
export async function revokeApiKey(q: Queryable, workspaceId: number, keyId: number, ownerId: number | null = null): Promise<'revoked' | 'already' | 'none'> {
  const rows = await q.query(
    'UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND workspace_id = $2 AND ($3::bigint IS NULL OR user_id = $3) AND revoked_at IS NULL RETURNING id',
    [keyId, workspaceId, ownerId],
  );
  if (rows.length) return 'revoked';
  const known = await q.query('SELECT 1 FROM api_keys WHERE id = $1 AND workspace_id = $2 AND ($3::bigint IS NULL OR user_id = $3)', [keyId, workspaceId, ownerId]);
  return known.length ? 'already' : 'none';
}

/** Give the workspace's unrevoked key with this id (with `ownerId`, that user's) a new expiry, `days` from now; null if it has no such key. */
export async function extendApiKey(q: Queryable, workspaceId: number, keyId: number, days: number, ownerId: number | null = null): Promise<ApiKeyListing | null> {
  const [row] = await q.query<ApiKeyListing>(
    `UPDATE api_keys k SET expires_at = now() + make_interval(days => $3)
       FROM workspaces w
      WHERE k.id = $1 AND k.workspace_id = $2 AND ($4::bigint IS NULL OR k.user_id = $4) AND k.revoked_at IS NULL AND w.id = k.workspace_id
      RETURNING ${KEY_LISTING}`,
    [keyId, workspaceId, days, ownerId],
  );
  return row ?? null;
}

export type NewApiKey = Pick<ApiKeyRow, 'workspace_id' | 'user_id' | 'key_hash' | 'prefix' | 'name'>;

/** A new key that expires `expiresInDays` from now (null: never); the row as stored, as a listing. */
export async function insertApiKeyReturning(q: Queryable, k: NewApiKey, expiresInDays: number | null): Promise<ApiKeyListing> {
  const [row] = await q.query<ApiKeyListing>(
    `WITH k AS (
       INSERT INTO api_keys (workspace_id, user_id, key_hash, prefix, name, expires_at)
       VALUES ($1, $2, $3, $4, $5, CASE WHEN $6::int IS NULL THEN NULL ELSE now() + make_interval(days => $6::int) END)
       RETURNING *)
     SELECT ${KEY_LISTING} FROM k JOIN workspaces w ON w.id = k.workspace_id`,
    [k.workspace_id, k.user_id, k.key_hash, k.prefix, k.name, expiresInDays],
  );
  return row;
}

export async function insertApiKey(q: Queryable, k: NewApiKey): Promise<void> {
  await q.query('INSERT INTO api_keys (workspace_id, user_id, key_hash, prefix, name) VALUES ($1, $2, $3, $4, $5)', [
    k.workspace_id,
    k.user_id,
    k.key_hash,
    k.prefix,
    k.name,
  ]);
}

/** Register a key unless a key with that hash is registered already (whatever its workspace). */
export async function insertApiKeyIfAbsent(q: Queryable, k: NewApiKey): Promise<void> {
  await q.query(
    `INSERT INTO api_keys (workspace_id, user_id, key_hash, prefix, name) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (key_hash) DO NOTHING`,
    [k.workspace_id, k.user_id, k.key_hash, k.prefix, k.name],
  );
}

/** Whether the workspace has an unrevoked key. */
export async function hasLiveApiKey(q: Queryable, workspaceId: number): Promise<boolean> {
  const rows = await q.query('SELECT 1 FROM api_keys WHERE workspace_id = $1 AND revoked_at IS NULL LIMIT 1', [workspaceId]);
  return rows.length > 0;
}

// ---------------------------------------------------------------- workspaces, users, members

export async function workspaceIdBySlug(q: Queryable, slug: string): Promise<number | null> {
  const [row] = await q.query<Pick<WorkspaceRow, 'id'>>('SELECT id FROM workspaces WHERE slug = $1', [slug]);
  return row?.id ?? null;
}


/**
 * The id of the workspace with this slug, inserted if there is none. Safe when servers start together: a
 * concurrent insert of the same slug waits for the first and then finds its row.
 */
export async function ensureWorkspaceRow(q: Queryable, w: Pick<WorkspaceRow, 'name' | 'slug' | 'team_wallet'>): Promise<number> {
  await q.query('INSERT INTO workspaces (name, slug, team_wallet) VALUES ($1, $2, $3) ON CONFLICT (slug) DO NOTHING', [w.name, w.slug, w.team_wallet]);
  return (await workspaceIdBySlug(q, w.slug))!;
}

/** The id of the user with this username, inserted if there is none (safe when servers start together). */
export async function ensureUserRow(q: Queryable, u: Pick<UserRow, 'username' | 'email'>): Promise<number> {
  await q.query('INSERT INTO users (username, email) VALUES ($1, $2) ON CONFLICT (username) DO NOTHING', [u.username, u.email]);
  return (await userIdByUsername(q, u.username))!;
}

export async function userIdByUsername(q: Queryable, username: string): Promise<number | null> {
  const [row] = await q.query<Pick<UserRow, 'id'>>('SELECT id FROM users WHERE username = $1', [username]);
  return row?.id ?? null;
}


/** Make the user a member of the workspace (nothing if it is one already). */
export async function addMember(q: Queryable, workspaceId: number, userId: number): Promise<void> {
  await q.query('INSERT INTO workspace_members (workspace_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING', [workspaceId, userId]);
}

/**
 * Lock the workspace row until the transaction ends, so that what depends on the workspace's CVMs (a free
 * name) cannot race. NO KEY UPDATE: lockers exclude each other, but foreign-key checks of other
 * transactions (KEY SHARE) are not blocked.
 */
export async function lockWorkspace(q: Queryable, workspaceId: number): Promise<void> {
  await q.query('SELECT id FROM workspaces WHERE id = $1 FOR NO KEY UPDATE', [workspaceId]);
}

/** The workspace's deployer and next app-id nonce, its row locked (NO KEY UPDATE) until the transaction ends. */
export async function lockDeployer(q: Queryable, workspaceId: number): Promise<Pick<WorkspaceRow, 'team_wallet' | 'next_nonce'>> {
  const [ws] = await q.query<Pick<WorkspaceRow, 'team_wallet' | 'next_nonce'>>(
    'SELECT team_wallet, next_nonce FROM workspaces WHERE id = $1 FOR NO KEY UPDATE',
    [workspaceId],
  );
  return ws;
}

/** The workspace's deployer and next app-id nonce, read without a lock (a look ahead, not a reservation). */
export async function readDeployer(q: Queryable, workspaceId: number): Promise<Pick<WorkspaceRow, 'team_wallet' | 'next_nonce'>> {
  const [ws] = await q.query<Pick<WorkspaceRow, 'team_wallet' | 'next_nonce'>>('SELECT team_wallet, next_nonce FROM workspaces WHERE id = $1', [workspaceId]);
  return ws;
}

/**
 * Take the workspace's next app-id nonce: one statement that answers the deployer and the nonce and moves
 * the counter on. The row stays locked (NO KEY UPDATE) until the transaction ends, so concurrent takers
 * queue and each gets its own nonce; a rolled-back transaction gives its nonce back.
 */
export async function takeNextNonce(q: Queryable, workspaceId: number): Promise<{ team_wallet: string; nonce: number }> {
  const [ws] = await q.query<{ team_wallet: string; nonce: number }>(
    'UPDATE workspaces SET next_nonce = next_nonce + 1 WHERE id = $1 RETURNING team_wallet, next_nonce - 1 AS nonce',
    [workspaceId],
  );
  return ws;
}

/** Move the workspace's next nonce to at least `next` (never back). */
export async function advanceNonce(q: Queryable, workspaceId: number, next: number): Promise<void> {
  await q.query('UPDATE workspaces SET next_nonce = greatest(next_nonce, $2) WHERE id = $1', [workspaceId, next]);
}

// ---------------------------------------------------------------- a user's workspaces

const MEMBER_WORKSPACE = `SELECT w.id, w.name, w.slug, w.tier, m.role, w.created_at
           FROM workspace_members m JOIN workspaces w ON w.id = m.workspace_id`;

/** The workspaces the user is a member of, by id, after `afterId`. */
export function memberWorkspaces(q: Queryable, userId: number, afterId: number, limit: number): Promise<WorkspaceRecord[]> {
  return q.query<WorkspaceRecord>(`${MEMBER_WORKSPACE}
          WHERE m.user_id = $1 AND w.id > $2 ORDER BY w.id LIMIT $3`, [userId, afterId, limit]);
}

/** How many workspaces the user is a member of. */
export async function countMemberships(q: Queryable, userId: number): Promise<number> {
  const [row] = await q.query<{ n: number }>('SELECT count(*)::int AS n FROM workspace_members WHERE user_id = $1', [userId]);
  return row.n;
}

/** A workspace the user is a member of, by slug. */
export async function memberWorkspaceBySlug(q: Queryable, userId: number, slug: string): Promise<WorkspaceRecord | null> {
  const [row] = await q.query<WorkspaceRecord>(`${MEMBER_WORKSPACE}
          WHERE m.user_id = $1 AND w.slug = $2`, [userId, slug]);
  return row ?? null;
}
