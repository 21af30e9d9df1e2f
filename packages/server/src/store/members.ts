/**
 * Workspace members and invitations: `workspace_members` (with `joined_at`) and `invitations` (tokens stored
 * as SHA-256 only), and the operator's workspace and user rows.
 */
import type { Role } from '@opencvm/contract';
import type { Queryable } from '../db/index.ts';

/** A member as the member list shows it. */
export interface MemberListing {
  user_id: number;
  username: string;
  email: string;
  role: Role;
  joined_at: Date;
  is_creator: boolean;
}

const MEMBER_COLUMNS = `m.user_id::int AS user_id, u.username, u.email, m.role, m.joined_at, coalesce(w.creator_id = m.user_id, false) AS is_creator`;
const MEMBER_FROM = `workspace_members m JOIN users u ON u.id = m.user_id JOIN workspaces w ON w.id = m.workspace_id`;

/** A page of the workspace's members, owners first, then by the time they joined; and how many there are. */
export async function memberPage(q: Queryable, workspaceId: number, offset: number, limit: number): Promise<{ items: MemberListing[]; total: number }> {
  const items = await q.query<MemberListing>(
    `SELECT ${MEMBER_COLUMNS} FROM ${MEMBER_FROM} WHERE m.workspace_id = $1
      ORDER BY array_position(ARRAY['owner','admin','member','viewer'], m.role), m.joined_at, m.user_id OFFSET $2 LIMIT $3`,
    [workspaceId, offset, limit],
  );
  const [n] = await q.query<{ n: number }>('SELECT count(*)::int AS n FROM workspace_members WHERE workspace_id = $1', [workspaceId]);
  return { items, total: n.n };
}

/**
 * The workspace's member `userId`, its row locked until the transaction ends, with the number of owners (read
 * after taking the workspace's owner lock, `lockOwners`); null if no such member.
 */
export async function memberForUpdate(q: Queryable, workspaceId: number, userId: number): Promise<MemberListing | null> {
  const [row] = await q.query<MemberListing>(`SELECT ${MEMBER_COLUMNS} FROM ${MEMBER_FROM} WHERE m.workspace_id = $1 AND m.user_id = $2 FOR UPDATE OF m`, [
    workspaceId,
    userId,
  ]);
  return row ?? null;
}

/**
 * Lock the workspace's owner rows and count them: concurrent changes that could each take away an owner
 * (demote, remove, leave) queue here, so the last owner always stays.
 */
export async function lockOwners(q: Queryable, workspaceId: number): Promise<number> {
  const rows = await q.query(`SELECT user_id FROM workspace_members WHERE workspace_id = $1 AND role = 'owner' FOR UPDATE`, [workspaceId]);
  return rows.length;
}

export async function setMemberRole(q: Queryable, workspaceId: number, userId: number, role: Role): Promise<void> {
  await q.query('UPDATE workspace_members SET role = $3 WHERE workspace_id = $1 AND user_id = $2', [workspaceId, userId, role]);
}

/** Remove the member and revoke their unrevoked API keys of the workspace (one transaction, the caller's). */
export async function deleteMember(q: Queryable, workspaceId: number, userId: number): Promise<void> {
  await q.query('DELETE FROM workspace_members WHERE workspace_id = $1 AND user_id = $2', [workspaceId, userId]);
  await q.query('UPDATE api_keys SET revoked_at = now() WHERE workspace_id = $1 AND user_id = $2 AND revoked_at IS NULL', [workspaceId, userId]);
}

/** Make the user a member with `role`; false if they are one already (nothing changed). */
export async function insertMember(q: Queryable, workspaceId: number, userId: number, role: Role): Promise<boolean> {
  const rows = await q.query(
    'INSERT INTO workspace_members (workspace_id, user_id, role) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING user_id',
    [workspaceId, userId, role],
  );
  return rows.length > 0;
}

// ---------------------------------------------------------------- invitations

export interface InvitationRow {
  id: number;
  workspace_id: number;
  email: string | null;
  role: Role;
  shareable: boolean;
  token_prefix: string;
  inviter_name: string;
  inviter_email: string;
  created_at: Date;
  expires_at: Date;
  accepted_at: Date | null;
  cancelled_at: Date | null;
  /** by the database's clock */
  expired: boolean;
}

const INVITATION_COLUMNS = `i.id::int AS id, i.workspace_id::int AS workspace_id, i.email, i.role, i.shareable, i.token_prefix,
       coalesce(u.username, '') AS inviter_name, coalesce(u.email, '') AS inviter_email, i.created_at, i.expires_at,
       i.accepted_at, i.cancelled_at, i.expires_at <= now() AS expired`;

export interface NewInvitation {
  workspace_id: number;
  email: string | null;
  role: Role;
  shareable: boolean;
  token_hash: string;
  token_prefix: string;
  inviter_id: number;
  days: number;
}

/**
 * A new invitation; null when a pending, unexpired direct invitation for that email exists (an expired one is
 * cancelled first, so it does not stand in the way).
 */
export async function insertInvitation(q: Queryable, i: NewInvitation): Promise<InvitationRow | null> {
  if (i.email !== null) {
    await q.query(
      `UPDATE invitations SET cancelled_at = now()
        WHERE workspace_id = $1 AND lower(email) = lower($2) AND accepted_at IS NULL AND cancelled_at IS NULL AND expires_at <= now()`,
      [i.workspace_id, i.email],
    );
  }
  const [row] = await q.query<InvitationRow>(
    `WITH i AS (
       INSERT INTO invitations (workspace_id, email, role, shareable, token_hash, token_prefix, inviter_id, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, now() + make_interval(days => $8::int))
       ON CONFLICT DO NOTHING RETURNING *)
     SELECT ${INVITATION_COLUMNS} FROM i LEFT JOIN users u ON u.id = i.inviter_id`,
    [i.workspace_id, i.email, i.role, i.shareable, i.token_hash, i.token_prefix, i.inviter_id, i.days],
  );
  return row ?? null;
}

/** A page of the workspace's pending, unexpired invitations, newest first; and how many there are. */
export async function pendingInvitations(q: Queryable, workspaceId: number, offset: number, limit: number): Promise<{ items: InvitationRow[]; total: number }> {
  const where = 'i.workspace_id = $1 AND i.accepted_at IS NULL AND i.cancelled_at IS NULL AND i.expires_at > now()';
  const items = await q.query<InvitationRow>(
    `SELECT ${INVITATION_COLUMNS} FROM invitations i LEFT JOIN users u ON u.id = i.inviter_id WHERE ${where} ORDER BY i.id DESC OFFSET $2 LIMIT $3`,
    [workspaceId, offset, limit],
  );
  const [n] = await q.query<{ n: number }>(`SELECT count(*)::int AS n FROM invitations i WHERE ${where}`, [workspaceId]);
  return { items, total: n.n };
}

/** Cancel the workspace's pending invitation with this id; false if it has none such (unknown, another workspace's, no longer pending). */
export async function cancelInvitation(q: Queryable, workspaceId: number, id: number): Promise<boolean> {
  const rows = await q.query(
    'UPDATE invitations SET cancelled_at = now() WHERE id = $1 AND workspace_id = $2 AND accepted_at IS NULL AND cancelled_at IS NULL RETURNING id',
    [id, workspaceId],
  );
  return rows.length > 0;
}

/** The invitation with this token hash, its row locked until the transaction ends, with its workspace; null if none. */
export async function invitationByHashForUpdate(q: Queryable, tokenHash: string): Promise<(InvitationRow & { workspace_slug: string; workspace_name: string }) | null> {
  const [row] = await q.query<InvitationRow & { workspace_slug: string; workspace_name: string }>(
    `SELECT ${INVITATION_COLUMNS}, w.slug AS workspace_slug, w.name AS workspace_name
       FROM invitations i JOIN workspaces w ON w.id = i.workspace_id LEFT JOIN users u ON u.id = i.inviter_id
      WHERE i.token_hash = $1 FOR UPDATE OF i`,
    [tokenHash],
  );
  return row ?? null;
}

/** Record a use: a direct invitation becomes accepted (used), a shareable one counts it. */
export async function markInvitationUsed(q: Queryable, id: number, userId: number, shareable: boolean): Promise<void> {
  await q.query(
    shareable
      ? 'UPDATE invitations SET accept_count = accept_count + 1 WHERE id = $1'
      : 'UPDATE invitations SET accept_count = accept_count + 1, accepted_at = now(), accepted_by = $2 WHERE id = $1',
    shareable ? [id] : [id, userId],
  );
}

// ---------------------------------------------------------------- the operator's workspaces and users

export interface AdminUserRow {
  id: number;
  username: string;
  email: string;
  created_at: Date;
}

/** A new user; null if the username is taken. */
export async function insertUser(q: Queryable, username: string, email: string): Promise<AdminUserRow | null> {
  const [row] = await q.query<AdminUserRow>(
    'INSERT INTO users (username, email) VALUES ($1, $2) ON CONFLICT (username) DO NOTHING RETURNING id::int AS id, username, email, created_at',
    [username, email],
  );
  return row ?? null;
}

export async function userByUsername(q: Queryable, username: string): Promise<AdminUserRow | null> {
  const [row] = await q.query<AdminUserRow>('SELECT id::int AS id, username, email, created_at FROM users WHERE username = $1', [username]);
  return row ?? null;
}

/** A new workspace; null if the slug is taken. */
export async function insertWorkspace(q: Queryable, w: { slug: string; name: string; team_wallet: string; creator_id: number | null }): Promise<number | null> {
  const [row] = await q.query<{ id: number }>(
    'INSERT INTO workspaces (slug, name, team_wallet, creator_id) VALUES ($1, $2, $3, $4) ON CONFLICT (slug) DO NOTHING RETURNING id::int AS id',
    [w.slug, w.name, w.team_wallet, w.creator_id],
  );
  return row?.id ?? null;
}

/** Record the workspace's creator where none is recorded. */
export async function setCreatorIfUnset(q: Queryable, workspaceId: number, userId: number): Promise<void> {
  await q.query('UPDATE workspaces SET creator_id = $2 WHERE id = $1 AND creator_id IS NULL', [workspaceId, userId]);
}

export interface AdminWorkspaceRow {
  id: number;
  slug: string;
  name: string;
  created_at: Date;
  members: number;
  owners: string[];
}

/** Every workspace (or the one with `id`), with its member count and its owners' usernames. */
export function adminWorkspaces(q: Queryable, id: number | null = null): Promise<AdminWorkspaceRow[]> {
  return q.query<AdminWorkspaceRow>(
    `SELECT w.id::int AS id, w.slug, w.name, w.created_at,
            (SELECT count(*)::int FROM workspace_members m WHERE m.workspace_id = w.id) AS members,
            coalesce((SELECT array_agg(u.username ORDER BY u.username) FROM workspace_members m JOIN users u ON u.id = m.user_id
                       WHERE m.workspace_id = w.id AND m.role = 'owner'), '{}') AS owners
       FROM workspaces w WHERE ($1::bigint IS NULL OR w.id = $1) ORDER BY w.id`,
    [id],
  );
}

/** Whether a workspace has this slug. */
export async function slugTaken(q: Queryable, slug: string): Promise<boolean> {
  return (await q.query('SELECT 1 FROM workspaces WHERE slug = $1', [slug])).length > 0;
}
