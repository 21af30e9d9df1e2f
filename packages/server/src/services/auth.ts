/**
 * Workspaces and API keys. Keys are 256-bit random strings shown once; only their SHA-256 is stored.
 */
import { randomBytes } from 'node:crypto';
import { ApiError, ErrorCodes, sha256Hex, toHex } from '@opencvm/core';
import type { Db, Queryable } from '../db/index.ts';

export interface Principal {
  workspaceId: number;
  workspaceName: string;
  workspaceSlug: string;
  workspaceTier: string;
  userId: number;
  username: string;
  email: string;
  role: string;
}

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
    const rows = await this.db.query<Principal>(
      `SELECT w.id AS "workspaceId", w.name AS "workspaceName", w.slug AS "workspaceSlug", w.tier AS "workspaceTier",
              u.id AS "userId", u.username, u.email, u.role
         FROM api_keys k JOIN workspaces w ON w.id = k.workspace_id JOIN users u ON u.id = k.user_id
        WHERE k.key_hash = $1 AND k.revoked_at IS NULL`,
      [hash],
    );
    if (!rows.length) {
      this.cache.delete(hash);
      throw new ApiError(401, ErrorCodes.API_KEY_INVALID, 'The API key is not valid: check X-API-Key, or create a new key.');
    }
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(hash, { principal: rows[0], until: now + CACHE_MS });
    return rows[0];
  }

  /**
   * Make sure the bootstrap workspace exists and has a key. With `wantedKey` that key is registered
   * (idempotently); without it a key is generated only when the workspace has none yet, and returned
   * so the caller can show it once.
   */
  async bootstrap(wantedKey?: string): Promise<{ generatedKey?: string; workspaceId: number }> {
    return this.db.tx(async (q) => {
      const ws = await ensureWorkspace(q, 'default', 'Default workspace');
      const user = await ensureUser(q, 'admin', 'admin@localhost', ws);
      if (wantedKey) {
        await q.query(
          `INSERT INTO api_keys (workspace_id, user_id, key_hash, prefix, name) VALUES ($1, $2, $3, $4, 'OPENCVM_API_KEY')
           ON CONFLICT (key_hash) DO NOTHING`,
          [ws, user, sha256Hex(wantedKey), wantedKey.slice(0, 9)],
        );
        return { workspaceId: ws };
      }
      const existing = await q.query('SELECT 1 FROM api_keys WHERE workspace_id = $1 AND revoked_at IS NULL LIMIT 1', [ws]);
      if (existing.length) return { workspaceId: ws };
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
  const found = await q.query<{ id: number }>('SELECT id FROM workspaces WHERE slug = $1', [slug]);
  if (found.length) return found[0].id;
  const [row] = await q.query<{ id: number }>(
    'INSERT INTO workspaces (name, slug, team_wallet) VALUES ($1, $2, $3) RETURNING id',
    [name, slug, toHex(randomBytes(20))],
  );
  return row.id;
}

async function ensureUser(q: Queryable, username: string, email: string, workspaceId: number): Promise<number> {
  const found = await q.query<{ id: number }>('SELECT id FROM users WHERE username = $1', [username]);
  const id = found.length
    ? found[0].id
    : (await q.query<{ id: number }>('INSERT INTO users (username, email) VALUES ($1, $2) RETURNING id', [username, email]))[0].id;
  await q.query('INSERT INTO workspace_members (workspace_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING', [workspaceId, id]);
  return id;
}

async function createKey(q: Queryable, workspaceId: number, userId: number, key: string, name: string) {
  await q.query('INSERT INTO api_keys (workspace_id, user_id, key_hash, prefix, name) VALUES ($1, $2, $3, $4, $5)', [
    workspaceId,
    userId,
    sha256Hex(key),
    key.slice(0, 9),
    name,
  ]);
}
