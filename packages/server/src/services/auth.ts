/**
 * Workspaces and API keys. Keys are 256-bit random strings shown once; only their SHA-256 is stored.
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
  lockWorkspace,
  principalByKeyHash,
  type Principal,
} from '../store/workspaces.ts';

export type { Principal };

const KEY_PREFIX = 'phak_';

export function generateApiKey(): string {
  return KEY_PREFIX + randomBytes(32).toString('base64url');
}

/** How long a verified key is trusted without asking the store again. Revocation takes at most this long. */
const CACHE_MS = 5_000;

export class AuthService {
  private cache = new Map<string, { principal: Principal; until: number }>();

  constructor(private readonly db: Db) {}

  /**
   * The principal for an `X-API-Key`, or a 401 that says what is wrong. Keys are looked up by hash,
   * so the comparison never touches the plaintext.
   */
  async authenticate(key: string | undefined): Promise<Principal> {
    if (!key) {
      throw new ApiError(401, ErrorCodes.API_KEY_REQUIRED, 'This request needs an API key: send it in the X-API-Key header.', {
        suggestions: ['Set PHALA_CLOUD_API_KEY, or pass apiKey to createClient().'],
      });
    }
    const hash = sha256Hex(key);
    const hit = this.cache.get(hash);
    const now = Date.now();
    if (hit && hit.until > now) return hit.principal;
    const principal = await principalByKeyHash(this.db, hash);
    if (!principal) {
      this.cache.delete(hash);
      throw new ApiError(401, ErrorCodes.API_KEY_INVALID, 'The API key is not valid: check X-API-Key, or create a new key.');
    }
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(hash, { principal, until: now + CACHE_MS });
    return principal;
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
        await insertApiKeyIfAbsent(q, { workspace_id: ws, user_id: user, key_hash: sha256Hex(wantedKey), prefix: wantedKey.slice(0, 9), name: 'OPENCVM_API_KEY' });
        return { workspaceId: ws };
      }
      await lockWorkspace(q, ws);
      if (await hasLiveApiKey(q, ws)) return { workspaceId: ws };
      const key = generateApiKey();
      await createKey(q, ws, user, key, 'bootstrap');
      return { generatedKey: key, workspaceId: ws };
    });
  }

  /** A new workspace with one user and one key (used by tests and, later, by sign-up). */
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
  return id;
}

async function createKey(q: Queryable, workspaceId: number, userId: number, key: string, name: string) {
  await insertApiKey(q, { workspace_id: workspaceId, user_id: userId, key_hash: sha256Hex(key), prefix: key.slice(0, 9), name });
}
