/**
 * API tokens (`/tokens`), called through the official SDK's client (`get`/`post`/`delete` on the API's paths,
 * `getCurrentUser` to use a token): the secret once, listing without it, revocation and expiry refused at the
 * very next request (also on a second server of the same database), refresh, and another workspace's token
 * id answering 404 while changing nothing.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from '@phala/cloud';
import { sha256Hex } from '@opencvm/core';
import { startServer, type RunningServer } from './app.ts';
import { startTestEnv, type TestEnv } from './testing/harness.ts';

/** Phala's `ApiToken`. */
interface Token {
  id: number;
  name: string;
  token: string | null;
  token_prefix: string | null;
  is_active: boolean;
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
  default_version: string | null;
  team_id: number | null;
  team_name: string | null;
  team_slug: string | null;
}
type Created = Token & { token: string };

let env: TestEnv;
let second: RunningServer;
before(async () => {
  env = await startTestEnv();
  // a second server on the same database, as a replica (its worker stopped: only its API is used)
  second = await startServer({ config: { ...env.config, port: 0 }, worker: { bootPollMs: 50, pollMs: 200 } });
  await second.worker.stop();
});
after(async () => {
  await second?.close();
  await env?.close();
});

const client = (apiKey = env.apiKey, baseURL = env.apiUrl) => createClient({ apiKey, baseURL });

/** The status and body of a request with `key` (on the first server unless `baseURL`). */
async function call(method: string, path: string, key: string | null, body?: unknown, baseURL = env.apiUrl) {
  const res = await fetch(`${baseURL}${path}`, {
    method,
    headers: { ...(key ? { 'X-API-Key': key } : {}), ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

const create = (body: Record<string, unknown>, key = env.apiKey) => client(key).post<Created>('/tokens', body);
const list = (key = env.apiKey) => client(key).get<Token[]>('/tokens');

test('create: the secret once (phak_…, stored as its SHA-256 only); the listing never shows it', async () => {
  const made = await create({ name: 'ci deploys', expires_in_days: 30 });
  assert.match(made.token, /^phak_[A-Za-z0-9_-]{43}$/);
  assert.equal(made.token_prefix, made.token.slice(0, 9));
  assert.equal(made.name, 'ci deploys');
  assert.equal(made.last_used_at, null);
  assert.equal(made.is_active, true);
  assert.equal(made.team_slug, 'default', 'the workspace it belongs to');
  const days = (Date.parse(made.expires_at!) - Date.parse(made.created_at)) / 86_400_000;
  assert.ok(Math.abs(days - 30) < 0.01, `expires 30 days after creation (${days})`);

  const [row] = await env.server.db.query<{ key_hash: string }>('SELECT key_hash FROM api_keys WHERE id = $1', [Number(made.id)]);
  assert.equal(row.key_hash, sha256Hex(made.token));
  const stored = JSON.stringify(await env.server.db.query('SELECT * FROM api_keys WHERE id = $1', [Number(made.id)]));
  assert.ok(!stored.includes(made.token), 'the secret is not stored');

  const listed = await list();
  const mine = listed.find((t) => t.id === made.id);
  assert.ok(mine, 'the new token is listed');
  assert.deepEqual(mine, { ...made, token: null });
  assert.ok(!JSON.stringify(listed).includes(made.token), 'no secret in the listing');
  assert.ok(listed.every((t) => t.token === null));
  // newest first
  assert.equal(listed[0].id, made.id);

  // without an expiry
  const forever = await create({ name: 'no expiry' });
  assert.equal(forever.expires_at, null);
  assert.notEqual(forever.token, made.token);
});

test('the new token works (getCurrentUser) and records its use at most once a minute', async () => {
  const made = await create({ name: 'works' });
  const me = await client(made.token).getCurrentUser();
  assert.equal((me as { workspace: { slug: string } }).workspace.slug, 'default');
  const usedOf = async () => (await list()).find((t) => t.id === made.id)!.last_used_at;
  const first = await usedOf();
  assert.ok(first, 'last_used_at is set by the first request');
  // more requests within the minute write nothing
  await client(made.token).getCurrentUser();
  await client(made.token).getCurrentUser();
  assert.equal(await usedOf(), first);
  // a use older than a minute is written again at the next request
  await env.server.db.query("UPDATE api_keys SET last_used_at = now() - interval '2 minutes' WHERE id = $1", [Number(made.id)]);
  const before = Date.parse((await usedOf())!);
  await client(made.token).getCurrentUser();
  assert.ok(Date.parse((await usedOf())!) > before, 'a stale use is recorded again');
});

test('revoke: the token is refused at its very next request, on this server and on a second one', async () => {
  const made = await create({ name: 'to revoke' });
  // both servers accept it (and have just checked it)
  assert.equal((await call('GET', '/auth/me', made.token)).status, 200);
  assert.equal((await call('GET', '/auth/me', made.token, undefined, second.apiUrl)).status, 200);

  await client().delete(`/tokens/${made.id}`);

  for (const base of [env.apiUrl, second.apiUrl]) {
    const r = await call('GET', '/auth/me', made.token, undefined, base);
    assert.equal(r.status, 401, `refused on ${base}`);
    assert.equal(r.body.detail.error_code, 'ERR-06-102');
  }
  const sdk = await client(made.token).safeGetCurrentUser();
  assert.equal(sdk.success, false);
  assert.ok(!(await list()).some((t) => t.id === made.id), 'a revoked token is not listed');
  // revoked twice: Phala's 400, "already revoked"
  const again = await call('DELETE', `/tokens/${made.id}`, env.apiKey);
  assert.equal(again.status, 400);
  assert.equal(again.body.detail.error_code, 'ERR-06-302');
  assert.match(again.body.detail.message, /already revoked/);
});

test('a token may revoke itself: its next request is refused', async () => {
  const made = await create({ name: 'self' });
  assert.equal((await call('DELETE', `/tokens/${made.id}`, made.token)).status, 204);
  assert.equal((await call('GET', '/tokens', made.token)).status, 401);
});

test('expired: refused at once (on both servers) with a message saying so; refresh gives it a new expiry', async () => {
  const made = await create({ name: 'expiring', expires_in_days: 1 });
  assert.equal((await call('GET', '/auth/me', made.token, undefined, second.apiUrl)).status, 200);
  await env.server.db.query("UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = $1", [Number(made.id)]);
  for (const base of [env.apiUrl, second.apiUrl]) {
    const r = await call('GET', '/auth/me', made.token, undefined, base);
    assert.equal(r.status, 401);
    assert.equal(r.body.detail.error_code, 'ERR-06-102');
    assert.match(r.body.detail.message, /expired/);
  }
  // an expired token is still listed, inactive (so it can be refreshed or revoked)
  assert.equal((await list()).find((t) => t.id === made.id)?.is_active, false);

  const refreshed = await client().post<Token>(`/tokens/${made.id}/refresh`, { expires_in_days: 7 });
  const days = (Date.parse(refreshed.expires_at!) - Date.now()) / 86_400_000;
  assert.ok(days > 6.9 && days <= 7, `expires 7 days from now (${days})`);
  assert.equal(refreshed.id, made.id);
  assert.equal(refreshed.token, null, 'no secret in the refresh answer');
  assert.equal(refreshed.is_active, true);
  assert.equal((await call('GET', '/auth/me', made.token)).status, 200, 'the same secret works again');
  assert.equal((await call('GET', '/auth/me', made.token, undefined, second.apiUrl)).status, 200);
});

test('refresh: extends the expiry (default 90 days), also of a token that had none; no body is fine', async () => {
  const made = await create({ name: 'refresh me', expires_in_days: 2 });
  const r = await call('POST', `/tokens/${made.id}/refresh`, env.apiKey);
  assert.equal(r.status, 200);
  const days = (Date.parse(r.body.expires_at) - Date.now()) / 86_400_000;
  assert.ok(days > 89.9 && days <= 90, `90 days from now (${days})`);
  assert.ok(Date.parse(r.body.expires_at) > Date.parse(made.expires_at!));

  const forever = await create({ name: 'had none' });
  const withExpiry = await client().post<Token>(`/tokens/${forever.id}/refresh`, { expires_in_days: 10, upgrade_version: true });
  assert.ok(withExpiry.expires_at);
  // Phala's limit: 1–365 days
  assert.equal((await call('POST', `/tokens/${forever.id}/refresh`, env.apiKey, { expires_in_days: 366 })).status, 422);
});

test("another workspace's token id: 404 on revoke and refresh, and nothing changes", async () => {
  const other = await env.server.services.auth.createWorkspace('tokens-other');
  const theirs = await create({ name: 'theirs', expires_in_days: 5 }, other.apiKey);
  const before = await env.server.db.query('SELECT expires_at, revoked_at FROM api_keys WHERE id = $1', [Number(theirs.id)]);

  for (const [method, path, body] of [
    ['DELETE', `/tokens/${theirs.id}`, undefined],
    ['POST', `/tokens/${theirs.id}/refresh`, { expires_in_days: 100 }],
  ] as const) {
    const r = await call(method, path, env.apiKey, body);
    assert.equal(r.status, 404, `${method} ${path}`);
    assert.equal(r.body.detail.error_code, 'ERR-06-301');
  }
  assert.deepEqual(await env.server.db.query('SELECT expires_at, revoked_at FROM api_keys WHERE id = $1', [Number(theirs.id)]), before);
  assert.equal((await call('GET', '/auth/me', theirs.token)).status, 200, 'their token still works');
  // each workspace lists its own tokens only
  assert.ok(!(await list()).some((t) => t.id === theirs.id));
  const theirList = await list(other.apiKey);
  assert.ok(theirList.some((t) => t.id === theirs.id));
  assert.ok(theirList.every((t) => t.name !== 'ci deploys'));
  // all_workspaces: also the tokens of the other workspaces the user owns; the bootstrap user owns only its own
  const all = await client().get<Token[]>('/tokens', { params: { all_workspaces: true } });
  assert.ok(!all.some((t) => t.id === theirs.id), "all_workspaces does not reach a workspace the user does not own");
  // once the bootstrap user owns the other workspace too, all_workspaces lists its tokens, with their workspace
  const { addMember } = await import('./store/workspaces.ts');
  const [me] = await env.server.db.query<{ id: string }>("SELECT id FROM users WHERE username = 'admin'");
  await addMember(env.server.db, other.workspaceId, Number(me.id));
  const owned = await client().get<Token[]>('/tokens', { params: { all_workspaces: true } });
  assert.equal(owned.find((t) => t.id === theirs.id)?.team_slug, 'tokens-other');
  assert.ok(owned.some((t) => t.team_slug === 'default'));
  assert.ok(!(await list()).some((t) => t.id === theirs.id), 'without all_workspaces: the current workspace only');
  // ids that name no token at all
  for (const id of ['0', 'abc', '99999999999', '1.0', '-1']) {
    assert.equal((await call('DELETE', `/tokens/${id}`, env.apiKey)).status, 404, id);
  }
});

test('requests that do not parse: 422 naming the field; no key: 401', async () => {
  for (const body of [{}, { name: '' }, { name: 'x', expires_in_days: 0 }, { name: 'x', expires_in_days: 1.5 }, { name: 'x', expires_in_days: 366 }, { name: 'x', extra: 1 }]) {
    const r = await call('POST', '/tokens', env.apiKey, body);
    assert.equal(r.status, 422, JSON.stringify(body));
  }
  assert.equal((await call('GET', '/tokens', null)).status, 401);
  assert.equal((await call('POST', '/tokens', null, { name: 'x' })).status, 401);
});
