/**
 * API tokens (Phala Cloud's `/tokens`): a workspace's API keys, listed, created, revoked and given a new
 * expiry. A token's secret is returned by its creation only and stored as its SHA-256. Every read and change
 * is of the caller's workspace: another workspace's token id answers 404 and changes nothing. A member or viewer
 * sees and manages their own tokens only (another member's token id is a 404 to them); an admin or owner, all of
 * the workspace's. Refusing a
 * revoked or expired token is `AuthService.authenticate`'s, at every request.
 */
import { DEFAULT_REFRESH_DAYS, roleRank, type ApiToken, type CreateApiTokenRequest, type RefreshApiTokenRequest } from '@opencvm/contract';
import { ApiError, ErrorCodes, sha256Hex } from '@opencvm/core';
import type { Db } from '../db/index.ts';
import { extendApiKey, insertApiKeyReturning, liveApiKeys, revokeApiKey, type ApiKeyListing } from '../store/workspaces.ts';
import { generateApiKey, keyPrefixOf, type Principal } from './auth.ts';

/** A key as Phala's `ApiToken`: the secret only when given (its creation), null otherwise. */
export const tokenOf = (k: ApiKeyListing, secret: string | null = null): ApiToken => ({
  id: k.id,
  name: k.name,
  token: secret,
  token_prefix: k.prefix,
  is_active: k.revoked_at === null && !k.expired,
  created_at: k.created_at.toISOString(),
  last_used_at: k.last_used_at?.toISOString() ?? null,
  expires_at: k.expires_at?.toISOString() ?? null,
  default_version: null,
  team_id: k.workspace_id,
  team_name: k.team_name,
  team_slug: k.team_slug,
});

/** The id a token id names (its decimal id), or null when it names none. */
function keyIdOf(tokenId: string): number | null {
  if (!/^[1-9][0-9]{0,15}$/.test(tokenId)) return null;
  const id = Number(tokenId);
  return Number.isSafeInteger(id) ? id : null;
}

/** Admins and owners see and manage every token of the workspace; members and viewers their own only. */
const managesAll = (p: Principal) => roleRank(p.memberRole) >= roleRank('admin');

const notFound = (tokenId: string) =>
  new ApiError(404, ErrorCodes.TOKEN_NOT_FOUND, `No API token "${tokenId}" in this workspace (or it is revoked): list the workspace's tokens with GET /api/v1/tokens.`);

export class TokenService {
  constructor(private readonly db: Db) {}

  async list(p: Principal, allWorkspaces = false): Promise<ApiToken[]> {
    return (await liveApiKeys(this.db, p.workspaceId, { userId: p.userId, allOwned: allWorkspaces, onlyOwn: !managesAll(p) })).map((k) => tokenOf(k));
  }

  async create(p: Principal, req: CreateApiTokenRequest): Promise<ApiToken> {
    const secret = generateApiKey();
    const row = await insertApiKeyReturning(
      this.db,
      { workspace_id: p.workspaceId, user_id: p.userId, key_hash: sha256Hex(secret), prefix: keyPrefixOf(secret), name: req.name.trim() },
      req.expires_in_days ?? null,
    );
    return tokenOf(row, secret);
  }

  async revoke(p: Principal, tokenId: string): Promise<void> {
    const id = keyIdOf(tokenId);
    const outcome = id === null ? 'none' : await revokeApiKey(this.db, p.workspaceId, id, managesAll(p) ? null : p.userId);
    if (outcome === 'none') throw notFound(tokenId);
    if (outcome === 'already') {
      throw new ApiError(400, ErrorCodes.TOKEN_ALREADY_REVOKED, `API token ${tokenId} is already revoked: nothing to do (a revoked token cannot be restored; create a new one with POST /api/v1/tokens).`);
    }
  }

  async refresh(p: Principal, tokenId: string, req: RefreshApiTokenRequest | undefined): Promise<ApiToken> {
    const id = keyIdOf(tokenId);
    const row = id === null ? null : await extendApiKey(this.db, p.workspaceId, id, req?.expires_in_days ?? DEFAULT_REFRESH_DAYS, managesAll(p) ? null : p.userId);
    if (!row) throw notFound(tokenId);
    return tokenOf(row);
  }
}
