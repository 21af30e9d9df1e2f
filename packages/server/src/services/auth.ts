/**
 * Workspaces and API keys. Keys are 256-bit random strings shown once; only their SHA-256 is stored.
 *
 * A key is checked at every request, by one read of the unique index on its hash: no server keeps a key it
 * checked earlier, so a key revoked or expired (by any server) is refused from its very next request, on every
 * server of the database. (A cache kept in step by LISTEN/NOTIFY would still let a request through on a server
 * the notification had not reached yet; the read costs one indexed SELECT.) The key's `last_used_at` is written
 * at most once a minute: the read says whether the recorded use is older than that, and the write itself only
 * changes a row whose use is older, so concurrent requests and servers write it once.
 */
import { randomBytes } from 'node:crypto';
import { ApiError, ErrorCodes, sha256Hex, toHex } from '@opencvm/core';
import type { Db, Queryable } from '../db/index.ts';
import {
  addMember,
  ensureUserRow,
  ensureWorkspaceRow,
  hasLiveApiKey,
  insertApiKey,
  insertApiKeyIfAbsent,
  keyByHash,
  lockWorkspace,
  touchApiKey,
  type Principal,
} from '../store/workspaces.ts';
import { setCreatorIfUnset } from '../store/members.ts';

export type { Principal };

const KEY_PREFIX = 'phak_';

export function generateApiKey(): string {
  return KEY_PREFIX + randomBytes(32).toString('base64url');
}

/** The characters of a key kept in clear (`phak_` and four more), so a user can tell keys apart. */
export const keyPrefixOf = (key: string) => key.slice(0, 9);

/** The principal of a request, and the API key it was made with. */
export type Caller = Principal & { apiKeyId: number };

export class AuthService {
  constructor(private readonly db: Db) {}

  /**
   * The principal for an `X-API-Key`, or a 401 that says what is wrong. Keys are looked up by hash,
   * so the comparison never touches the plaintext.
   */
  async authenticate(key: string | undefined): Promise<Caller> {
    if (!key) {
      throw new ApiError(401, ErrorCodes.API_KEY_REQUIRED, 'This request needs an API key: send it in the X-API-Key header.', {
        suggestions: ['Set PHALA_CLOUD_API_KEY, or pass apiKey to createClient().'],
      });
    }
    const found = await keyByHash(this.db, sha256Hex(key));
    if (!found) {
      throw new ApiError(401, ErrorCodes.API_KEY_INVALID, 'The API key is not valid (unknown or revoked): check X-API-Key, or create a new key.');
    }
    if (found.expired) {
      throw new ApiError(
        401,
        ErrorCodes.API_KEY_INVALID,
        `The API key expired at ${found.expiresAt!.toISOString()}: refresh it (POST /api/v1/tokens/{token_id}/refresh) with another key of the workspace, or create a new one.`,
      );
    }
    if (found.useStale) await touchApiKey(this.db, found.keyId);
    return { ...found.principal, apiKeyId: found.keyId };
  }

  /**
   * Make sure the bootstrap workspace exists and has a key. With `wantedKey` that key is registered
   * (idempotently); without it a key is generated only when the workspace has none yet, and returned
   * so the caller can show it once. Servers that start together on one database each run this: the rows
   * are inserted only if absent, and the workspace row is locked before its keys are counted, so exactly
   * one of them generates a key.
   */
  async bootstrap(wantedKey?: string): Promise<{ generatedKey?: string; workspaceId: number }> {
    return this.db.tx(async (q) => {
      const ws = await ensureWorkspace(q, 'default', 'Default workspace');
      const user = await ensureUser(q, 'admin', 'admin@localhost', ws);
      if (wantedKey) {
        await insertApiKeyIfAbsent(q, { workspace_id: ws, user_id: user, key_hash: sha256Hex(wantedKey), prefix: keyPrefixOf(wantedKey), name: 'OPENCVM_API_KEY' });
        return { workspaceId: ws };
      }
      await lockWorkspace(q, ws);
      if (await hasLiveApiKey(q, ws)) return { workspaceId: ws };
      const key = generateApiKey();
      await createKey(q, ws, user, key, 'bootstrap');
      return { generatedKey: key, workspaceId: ws };
    });
  }

  /** A new workspace with one user (its owner) and one key (used by tests; operators use `POST /api/v1/admin/workspaces`). */
  async createWorkspace(slug: string, name = slug): Promise<{ workspaceId: number; apiKey: string }> {
    return this.db.tx(async (q) => {
      const ws = await ensureWorkspace(q, slug, name);
      const user = await ensureUser(q, `${slug}-owner`, `${slug}@localhost`, ws);
      const key = generateApiKey();
      await createKey(q, ws, user, key, 'default');
      return { workspaceId: ws, apiKey: key };
    });
  }
}

async function ensureWorkspace(q: Queryable, slug: string, name: string): Promise<number> {
  return ensureWorkspaceRow(q, { name, slug, team_wallet: toHex(randomBytes(20)) });
}

async function ensureUser(q: Queryable, username: string, email: string, workspaceId: number): Promise<number> {
  const id = await ensureUserRow(q, { username, email });
  await addMember(q, workspaceId, id);
  await setCreatorIfUnset(q, workspaceId, id);
  return id;
}

async function createKey(q: Queryable, workspaceId: number, userId: number, key: string, name: string) {
  await insertApiKey(q, { workspace_id: workspaceId, user_id: userId, key_hash: sha256Hex(key), prefix: keyPrefixOf(key), name });
}
