/**
 * Workspaces, members and invitations (Phala Cloud's `/workspaces/check-slug`, `/workspaces/{slug}/members…`,
 * `/invitations…`, `/leave`; opencvm's accept path and the operator's `/admin/workspaces`, `/admin/users`).
 *
 * Every change is one transaction. Changes that could take away an owner (demote, remove, leave) first lock the
 * workspace's owner rows (`lockOwners`), so two of them at once cannot leave it with none. A key reaches only its
 * own workspace: a slug other than the key's is a 404, as is a member or invitation id of another workspace.
 * Invitation tokens, like API keys, are 256-bit random strings stored as their SHA-256 only.
 */
import { randomBytes } from 'node:crypto';
import {
  RESERVED_SLUGS,
  SLUG_RULE,
  roleRank,
  type AcceptInvitationRequest,
  type ApiToken,
  type CreateInvitationRequest,
  type CreateWorkspaceRequest,
  type Role,
  type z,
  type adminWorkspaceSchema,
  type invitationSchema,
  type memberSchema,
} from '@opencvm/contract';
import { ApiError, ErrorCodes, sha256Hex, toHex } from '@opencvm/core';
import type { Db, Queryable } from '../db/index.ts';
import {
  adminWorkspaces,
  cancelInvitation,
  deleteMember,
  insertInvitation,
  insertMember,
  insertUser,
  insertWorkspace,
  invitationByHashForUpdate,
  lockOwners,
  markInvitationUsed,
  memberForUpdate,
  memberPage,
  pendingInvitations,
  setMemberRole,
  slugTaken,
  userByUsername,
  type AdminUserRow,
  type AdminWorkspaceRow,
  type InvitationRow,
  type MemberListing,
} from '../store/members.ts';
import { insertApiKeyReturning } from '../store/workspaces.ts';
import { generateApiKey, keyPrefixOf, type AuthService, type Principal } from './auth.ts';
import { tokenOf } from './tokens.ts';

const INVITATION_PREFIX = 'phinv_';
const DEFAULT_INVITATION_DAYS = 7;

const upper = (r: Role) => r.toUpperCase() as 'OWNER' | 'ADMIN' | 'MEMBER' | 'VIEWER';

const memberOut = (m: MemberListing): z.input<typeof memberSchema> => ({
  user_id: String(m.user_id),
  username: m.username,
  email: m.email,
  role: upper(m.role),
  joined_at: m.joined_at.toISOString(),
  is_creator: m.is_creator,
});

const invitationOut = (i: InvitationRow, secret?: string): z.input<typeof invitationSchema> => ({
  id: i.id,
  email: i.email,
  role: upper(i.role),
  status: i.cancelled_at ? 'REVOKED' : i.accepted_at ? 'ACCEPTED' : i.expired ? 'EXPIRED' : 'PENDING',
  token: secret ?? i.token_prefix,
  inviter_name: i.inviter_name,
  inviter_email: i.inviter_email,
  created_at: i.created_at.toISOString(),
  expires_at: i.expires_at.toISOString(),
});

const adminWorkspaceOut = (w: AdminWorkspaceRow): z.input<typeof adminWorkspaceSchema> => ({
  id: String(w.id),
  slug: w.slug,
  name: w.name,
  created_at: w.created_at.toISOString(),
  members: w.members,
  owners: w.owners,
});

const userOut = (u: AdminUserRow) => ({ user_id: String(u.id), username: u.username, email: u.email, created_at: u.created_at.toISOString() });

/** A decimal id, or null when the text names none. */
function idOf(text: string): number | null {
  if (!/^[1-9][0-9]{0,15}$/.test(text)) return null;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : null;
}

const pages = (total: number, size: number) => Math.max(1, Math.ceil(total / size));

function workspaceNotFound(slug: string): ApiError {
  return new ApiError(404, ErrorCodes.WORKSPACE_NOT_FOUND, `Workspace "${slug}" was not found among this key's: a key acts in its own workspace only (list yours with GET /api/v1/workspaces).`);
}
const memberNotFound = (userId: string) =>
  new ApiError(404, ErrorCodes.MEMBER_NOT_FOUND, `No member with user id "${userId}" in this workspace: list the members with GET /api/v1/workspaces/{slug}/members.`);
const lastOwner = (what: string) =>
  new ApiError(400, ErrorCodes.LAST_OWNER, `${what} would leave the workspace without an owner: make another member an OWNER first (PATCH /api/v1/workspaces/{slug}/members/{user_id}).`);
const roleNotAllowed = (message: string) => new ApiError(403, ErrorCodes.ROLE_NOT_ALLOWED, message);

export class MemberService {
  constructor(
    private readonly db: Db,
    private readonly auth: AuthService,
  ) {}

  /** The key's own workspace must be the one the path names. */
  private own(p: Principal, slug: string): void {
    if (slug.toLowerCase() !== p.workspaceSlug) throw workspaceNotFound(slug);
  }

  async checkSlug(slug: string): Promise<{ slug: string; valid: boolean; available: boolean; message: string | null }> {
    const s = slug.trim().toLowerCase();
    if (!SLUG_RULE.test(s)) {
      return { slug: s, valid: false, available: false, message: 'A slug is 3–63 characters: lowercase letters, digits and hyphens, not starting or ending with a hyphen.' };
    }
    if ((RESERVED_SLUGS as readonly string[]).includes(s)) return { slug: s, valid: false, available: false, message: `"${s}" is reserved: choose another.` };
    if (await slugTaken(this.db, s)) return { slug: s, valid: true, available: false, message: `A workspace has the slug "${s}" already.` };
    return { slug: s, valid: true, available: true, message: null };
  }

  async members(p: Principal, slug: string, page: number, size: number) {
    this.own(p, slug);
    const { items, total } = await memberPage(this.db, p.workspaceId, (page - 1) * size, size);
    return { items: items.map(memberOut), total, page, page_size: size, pages: pages(total, size) };
  }

  /** Change a member's role: see the endpoint's description for the rules. */
  async setRole(p: Principal, slug: string, userIdText: string, role: Role) {
    this.own(p, slug);
    const userId = idOf(userIdText);
    if (userId === null) throw memberNotFound(userIdText);
    return this.db.tx(async (q) => {
      const owners = await lockOwners(q, p.workspaceId);
      const m = await memberForUpdate(q, p.workspaceId, userId);
      if (!m) throw memberNotFound(userIdText);
      if (m.user_id === p.userId) throw roleNotAllowed('Nobody changes their own role: ask another admin or owner of the workspace.');
      if ((m.role === 'owner' || role === 'owner') && p.memberRole !== 'owner') {
        throw roleNotAllowed(`Giving or taking the OWNER role needs an OWNER; your role is ${upper(p.memberRole)}.`);
      }
      if (m.role === 'owner' && role !== 'owner' && owners <= 1) throw lastOwner(`Making ${m.username} ${upper(role)}`);
      if (m.role !== role) await setMemberRole(q, p.workspaceId, userId, role);
      return memberOut({ ...m, role });
    });
  }

  /** Remove a member and revoke their API tokens of the workspace, in one transaction. */
  async remove(p: Principal, slug: string, userIdText: string): Promise<{ message: string }> {
    this.own(p, slug);
    const userId = idOf(userIdText);
    if (userId === null) throw memberNotFound(userIdText);
    return this.db.tx(async (q) => {
      const owners = await lockOwners(q, p.workspaceId);
      const m = await memberForUpdate(q, p.workspaceId, userId);
      if (!m) throw memberNotFound(userIdText);
      if (m.role === 'owner' && p.memberRole !== 'owner') throw roleNotAllowed(`Removing an OWNER needs an OWNER; your role is ${upper(p.memberRole)}.`);
      if (m.role === 'owner' && owners <= 1) throw lastOwner(`Removing ${m.username}`);
      await deleteMember(q, p.workspaceId, userId);
      return { message: `${m.username} is no longer a member of ${p.workspaceSlug}; their API tokens of the workspace are revoked.` };
    });
  }

  async leave(p: Principal, slug: string): Promise<{ message: string }> {
    this.own(p, slug);
    return this.db.tx(async (q) => {
      const owners = await lockOwners(q, p.workspaceId);
      const m = await memberForUpdate(q, p.workspaceId, p.userId);
      if (!m) throw workspaceNotFound(slug);
      if (m.role === 'owner' && owners <= 1) throw lastOwner('Leaving');
      await deleteMember(q, p.workspaceId, p.userId);
      return { message: `You left ${p.workspaceSlug}; your API tokens of the workspace are revoked.` };
    });
  }

  private checkGrantable(p: Principal, role: Role): void {
    if (role === 'owner') throw roleNotAllowed('OWNER cannot be given by invitation: invite as ADMIN, MEMBER or VIEWER, then change the role.');
    if (roleRank(role) > roleRank(p.memberRole)) throw roleNotAllowed(`You cannot invite with a role above your own (${upper(p.memberRole)}).`);
  }

  async invite(p: Principal, slug: string, req: CreateInvitationRequest) {
    this.own(p, slug);
    this.checkGrantable(p, req.role);
    const secret = INVITATION_PREFIX + randomBytes(32).toString('base64url');
    const row = await this.db.tx((q) =>
      insertInvitation(q, {
        workspace_id: p.workspaceId,
        email: req.email,
        role: req.role,
        shareable: false,
        token_hash: sha256Hex(secret),
        token_prefix: secret.slice(0, INVITATION_PREFIX.length + 4),
        inviter_id: p.userId,
        days: req.expires_in_days ?? DEFAULT_INVITATION_DAYS,
      }),
    );
    if (!row) {
      throw new ApiError(409, ErrorCodes.INVITATION_EXISTS, `${req.email} has a pending invitation to this workspace already: cancel it (DELETE /api/v1/workspaces/{slug}/invitations/{invitation_id}) to send another.`);
    }
    return invitationOut(row, secret);
  }

  async shareable(p: Principal, slug: string, req: { role?: Role; expires_in_days?: number } | undefined) {
    this.own(p, slug);
    const role = req?.role ?? 'member';
    this.checkGrantable(p, role);
    const secret = INVITATION_PREFIX + randomBytes(32).toString('base64url');
    const row = (await insertInvitation(this.db, {
      workspace_id: p.workspaceId,
      email: null,
      role,
      shareable: true,
      token_hash: sha256Hex(secret),
      token_prefix: secret.slice(0, INVITATION_PREFIX.length + 4),
      inviter_id: p.userId,
      days: req?.expires_in_days ?? DEFAULT_INVITATION_DAYS,
    }))!;
    const url = `/api/v1/invitations/${secret}/accept`;
    return {
      invitation_url: url,
      token: secret,
      role: upper(role),
      expires_at: row.expires_at.toISOString(),
      invitation_message: `Join the workspace "${p.workspaceName}" as ${upper(role)}: POST ${url} (until ${row.expires_at.toISOString()}).`,
    };
  }

  async invitations(p: Principal, slug: string, page: number, size: number) {
    this.own(p, slug);
    const { items, total } = await pendingInvitations(this.db, p.workspaceId, (page - 1) * size, size);
    return { items: items.map((i) => invitationOut(i)), total, page, page_size: size, pages: pages(total, size) };
  }

  async cancel(p: Principal, slug: string, idText: string): Promise<{ message: string }> {
    this.own(p, slug);
    const id = idOf(idText);
    if (id === null || !(await cancelInvitation(this.db, p.workspaceId, id))) {
      throw new ApiError(404, ErrorCodes.INVITATION_NOT_FOUND, `No pending invitation "${idText}" in this workspace: list them with GET /api/v1/workspaces/{slug}/invitations.`);
    }
    return { message: `Invitation ${id} cancelled: its token is refused from now on.` };
  }

  /**
   * Accept an invitation: with an API key its user joins, without one a new user is created. One transaction
   * with the invitation's row locked: a direct invitation is used once, however many accept it at once.
   */
  async accept(token: string, apiKey: string | undefined, req: AcceptInvitationRequest | undefined) {
    const joining = apiKey ? await this.auth.authenticate(apiKey) : undefined;
    if (!joining && !req?.username) {
      throw new ApiError(422, ErrorCodes.INVALID_REQUEST, 'username: send your API key (X-API-Key, of any workspace) to join as your user, or a username (and email) to create a new user.', {
        details: [{ field: 'username', message: 'required without an API key' }],
      });
    }
    const invalid = (why: string) =>
      new ApiError(400, ErrorCodes.INVITATION_INVALID, `This invitation ${why}: ask an admin of the workspace for a new one.`);
    return this.db.tx(async (q) => {
      const inv = await invitationByHashForUpdate(q, sha256Hex(token));
      if (!inv) throw invalid('is unknown');
      if (inv.cancelled_at) throw invalid('was cancelled');
      if (inv.accepted_at) throw invalid('was used already');
      if (inv.expired) throw invalid(`expired at ${inv.expires_at.toISOString()}`);
      const user = joining ? { id: joining.userId, username: joining.username } : await newUser(q, req!.username!, req?.email ?? inv.email ?? `${req!.username}@localhost`);
      if (!(await insertMember(q, inv.workspace_id, user.id, inv.role))) {
        throw new ApiError(409, ErrorCodes.ALREADY_MEMBER, `${user.username} is a member of ${inv.workspace_slug} already: use a key of that workspace (or create one with POST /api/v1/tokens).`);
      }
      await markInvitationUsed(q, inv.id, user.id, inv.shareable);
      const secret = generateApiKey();
      const key = await insertApiKeyReturning(
        q,
        { workspace_id: inv.workspace_id, user_id: user.id, key_hash: sha256Hex(secret), prefix: keyPrefixOf(secret), name: req?.token_name ?? 'invitation' },
        null,
      );
      return {
        message: `${user.username} joined ${inv.workspace_slug} as ${upper(inv.role)}.`,
        workspace_slug: inv.workspace_slug,
        workspace_name: inv.workspace_name,
        role: upper(inv.role),
        user_id: String(user.id),
        username: user.username,
        api_token: tokenOf(key, secret) as ApiToken,
      };
    });
  }

  // ---------------------------------------------------------------- the operator's

  async createUser(username: string, email: string) {
    const u = await insertUser(this.db, username, email);
    if (!u) throw usernameTaken(username);
    return userOut(u);
  }

  /** A workspace, its first owner (found or created) and the owner's first API token, in one transaction. */
  async createWorkspace(req: CreateWorkspaceRequest) {
    return this.db.tx(async (q) => {
      let owner = await userByUsername(q, req.owner.username);
      const created = !owner;
      owner ??= await newUserRow(q, req.owner.username, req.owner.email ?? `${req.owner.username}@localhost`);
      const id = await insertWorkspace(q, { slug: req.slug, name: req.name ?? req.slug, team_wallet: toHex(randomBytes(20)), creator_id: owner.id });
      if (id === null) {
        throw new ApiError(409, ErrorCodes.WORKSPACE_SLUG_TAKEN, `A workspace has the slug "${req.slug}" already: choose another (POST /api/v1/workspaces/check-slug says which are free).`);
      }
      await insertMember(q, id, owner.id, 'owner');
      const secret = generateApiKey();
      const key = await insertApiKeyReturning(
        q,
        { workspace_id: id, user_id: owner.id, key_hash: sha256Hex(secret), prefix: keyPrefixOf(secret), name: 'first owner token' },
        req.token_expires_in_days ?? null,
      );
      const [ws] = await adminWorkspaces(q, id);
      return { workspace: adminWorkspaceOut(ws), owner: { ...userOut(owner), created }, api_token: tokenOf(key, secret) as ApiToken };
    });
  }

  async listWorkspaces() {
    return (await adminWorkspaces(this.db)).map(adminWorkspaceOut);
  }
}

const usernameTaken = (username: string) =>
  new ApiError(409, ErrorCodes.USERNAME_TAKEN, `The username "${username}" is taken: choose another (or, if it is yours, accept with your API key in X-API-Key).`);

async function newUserRow(q: Queryable, username: string, email: string): Promise<AdminUserRow> {
  const u = await insertUser(q, username, email);
  if (!u) throw usernameTaken(username);
  return u;
}

async function newUser(q: Queryable, username: string, email: string): Promise<{ id: number; username: string }> {
  const u = await newUserRow(q, username, email);
  return { id: u.id, username: u.username };
}
