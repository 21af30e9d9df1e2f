/**
 * The caller's SSH public keys (`/user/ssh-keys…`): add (a validated OpenSSH public key, OpenSSH's
 * fingerprint, one per fingerprint per user), list, delete, and import or sync a GitHub profile's keys
 * (`<github url>/<user>.keys`). Keys belong to a user; a CVM the user deploys gets them in its user_config
 * (`services/deploy.ts`, at the commit). A network that cannot reach GitHub gets a 400 within seconds.
 */
import { randomBytes } from 'node:crypto';
import { ApiError, ErrorCodes, SSH_KEY_FORM, conflict, notFound, parseSshPublicKey, type SshPublicKey, type z, type sshKeySchema } from '@opencvm/core';
import type { Db } from '../db/index.ts';
import type { Principal } from './auth.ts';
import {
  deleteSshKey,
  githubAccountsOf,
  insertSshKey,
  listSshKeys,
  reconcileGithubKeys,
  sshKeyByFingerprint,
  type SshKeyRow,
} from '../store/ssh-keys.ts';

type SshKey = z.input<typeof sshKeySchema>;

/** How long a read of GitHub may take in all (connect and answer). */
export const GITHUB_TIMEOUT_MS = 3000;
/** Largest `.keys` answer read (GitHub's are a few KB). */
const MAX_GITHUB_ANSWER = 256 * 1024;
/** Most keys taken from one GitHub account. */
const MAX_GITHUB_KEYS = 100;

export interface SshKeyOptions {
  /** GitHub's web origin (`OPENCVM_GITHUB_URL`), which serves `/<user>.keys` */
  githubUrl: string;
  githubTimeoutMs?: number;
}

const newKeyId = () => `sshkey_${randomBytes(10).toString('hex')}`;

function shapeOf(r: SshKeyRow): SshKey {
  return {
    id: r.id,
    user_id: String(r.user_id),
    name: r.name,
    public_key: r.public_key,
    fingerprint: r.fingerprint,
    key_type: r.key_type,
    source: r.source,
    key_metadata: r.key_metadata,
    last_synced_at: r.last_synced_at ? r.last_synced_at.toISOString() : null,
    created_at: r.created_at.toISOString(),
    updated_at: r.updated_at.toISOString(),
  };
}

export class SshKeyService {
  private readonly githubUrl: string;
  private readonly githubTimeoutMs: number;

  constructor(private readonly db: Db, opts: SshKeyOptions) {
    this.githubUrl = opts.githubUrl.replace(/\/+$/, '');
    this.githubTimeoutMs = opts.githubTimeoutMs ?? GITHUB_TIMEOUT_MS;
  }

  async list(p: Principal): Promise<SshKey[]> {
    return (await listSshKeys(this.db, p.userId)).map(shapeOf);
  }

  async add(p: Principal, req: { name: string; public_key: string }): Promise<SshKey> {
    const key = parseSshPublicKey(req.public_key);
    if ('problem' in key) {
      throw new ApiError(422, ErrorCodes.INVALID_REQUEST, `public_key is not a valid SSH public key: ${key.problem}. Send ${SSH_KEY_FORM}.`, {
        details: [{ field: 'public_key', message: key.problem }],
      });
    }
    return this.db.tx(async (q) => {
      const row = await insertSshKey(q, {
        id: newKeyId(), user_id: p.userId, name: req.name, public_key: key.line, fingerprint: key.fingerprint, key_type: key.keyType,
        source: 'manual', key_metadata: null,
      });
      if (row) return shapeOf(row);
      const existing = await sshKeyByFingerprint(q, p.userId, key.fingerprint);
      throw conflict(ErrorCodes.SSH_KEY_EXISTS,
        `You have added this key already (${key.fingerprint}) as "${existing?.name ?? '?'}" (id ${existing?.id ?? '?'}): there is nothing to add.`);
    });
  }

  async remove(p: Principal, keyId: string): Promise<void> {
    if (!(await deleteSshKey(this.db, p.userId, keyId))) {
      throw notFound(ErrorCodes.SSH_KEY_NOT_FOUND, `SSH key "${keyId}" was not found among your keys: list them with GET /user/ssh-keys (phala ssh-keys list).`);
    }
  }

  async importGithub(p: Principal, githubUsername: string) {
    const keys = await this.githubKeys(githubUsername);
    return this.db.tx(async (q) => {
      let added = 0;
      let skipped = 0;
      for (const k of keys.valid) {
        const row = await insertSshKey(q, githubKey(p, githubUsername, k));
        if (row) added++;
        else skipped++;
      }
      return { github_username: githubUsername, keys_added: added, keys_skipped: skipped, errors: keys.errors };
    });
  }

  async syncGithub(p: Principal) {
    const accounts = await githubAccountsOf(this.db, p.userId);
    // every account is read before anything changes: one GitHub cannot answer for, nothing is changed
    const read: { account: string; keys: { valid: SshPublicKey[]; errors: string[] } }[] = [];
    for (const a of accounts) read.push({ account: a, keys: await this.githubKeys(a) });
    return this.db.tx(async (q) => {
      const out = { synced_count: accounts.length, keys_added: 0, keys_updated: 0, keys_removed: 0, errors: [] as string[] };
      for (const { account, keys } of read) {
        const { kept, removed } = await reconcileGithubKeys(q, p.userId, account, keys.valid.map((k) => k.fingerprint));
        out.keys_updated += kept;
        out.keys_removed += removed;
        for (const k of keys.valid) if (await insertSshKey(q, githubKey(p, account, k))) out.keys_added++;
        out.errors.push(...keys.errors.map((e) => `${account}: ${e}`));
      }
      return out;
    });
  }

  /** The keys `<github url>/<user>.keys` lists, valid ones parsed and the others described. */
  private async githubKeys(githubUsername: string): Promise<{ valid: SshPublicKey[]; errors: string[] }> {
    const url = `${this.githubUrl}/${encodeURIComponent(githubUsername)}.keys`;
    const unreachable = (why: string) =>
      new ApiError(400, ErrorCodes.GITHUB_UNREACHABLE,
        `GitHub could not be reached at ${this.githubUrl} (${why}): this server's network may not reach GitHub. Add the key with POST /user/ssh-keys (phala ssh-keys add) instead.`,
        { suggestions: ['phala ssh-keys add --key-file ~/.ssh/id_ed25519.pub'] });
    let text: string;
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(this.githubTimeoutMs), redirect: 'follow', headers: { accept: 'text/plain' } });
      if (res.status === 404) {
        await res.body?.cancel();
        throw new ApiError(400, ErrorCodes.GITHUB_USER_NOT_FOUND, `GitHub has no user "${githubUsername}": check the user name.`);
      }
      if (!res.ok) {
        await res.body?.cancel();
        throw unreachable(`it answered HTTP ${res.status}`);
      }
      const declared = Number(res.headers.get('content-length') ?? 0);
      if (declared > MAX_GITHUB_ANSWER) {
        await res.body?.cancel();
        throw unreachable(`its answer is ${declared} bytes, more than a key list`);
      }
      text = await res.text();
      if (text.length > MAX_GITHUB_ANSWER) throw unreachable(`its answer is ${text.length} characters, more than a key list`);
    } catch (err) {
      if (err instanceof ApiError) throw err;
      throw unreachable(describeFetchError(err, this.githubTimeoutMs));
    }
    const valid: SshPublicKey[] = [];
    const errors: string[] = [];
    const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
    for (const [i, line] of lines.slice(0, MAX_GITHUB_KEYS).entries()) {
      const k = parseSshPublicKey(line);
      if ('problem' in k) errors.push(`key ${i + 1} is not a valid SSH public key: ${k.problem}`);
      else valid.push(k);
    }
    if (lines.length > MAX_GITHUB_KEYS) errors.push(`only the first ${MAX_GITHUB_KEYS} of ${lines.length} keys were read`);
    return { valid, errors };
  }
}

function githubKey(p: Principal, githubUsername: string, k: SshPublicKey) {
  return {
    id: newKeyId(), user_id: p.userId, name: `github:${githubUsername} ${k.fingerprint.slice(7, 15)}`, public_key: k.line,
    fingerprint: k.fingerprint, key_type: k.keyType, source: 'github' as const, key_metadata: { github_username: githubUsername },
  };
}

/** What went wrong reaching GitHub, in a few words (never a URL's credentials: the URL is the operator's). */
function describeFetchError(err: unknown, timeoutMs: number): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return `no answer within ${timeoutMs / 1000} s`;
  const cause = e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(err);
  return `the connection failed: ${cause}`;
}
