/**
 * Rate limits: the token bucket on a clock the test moves (no timing in assertions), the bound on its memory,
 * the client-address keys, which endpoints the contract limits; then a server with small limits: per client
 * address on the guest KMS, the auth webhook and the log URLs (before any credential is read), per API key on
 * mutations (two keys), reads not limited, each refusal a 429 in the envelope with Retry-After, and requests
 * passing again once the Retry-After the server gave has gone by.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { endpoints, rateLimitsOf } from '@opencvm/core';
import { startTestEnv, type TestEnv } from '../testing/harness.ts';
import { TokenBucketLimiter, clientAddressKey } from './rate-limit.ts';

test('a bucket: a minute\'s worth at once, then refused with the whole seconds to wait; other keys unaffected', () => {
  let now = 1_000_000;
  const l = new TokenBucketLimiter({ perMinute: 3, now: () => now });
  assert.deepEqual([l.take('a'), l.take('a'), l.take('a')], [0, 0, 0]);
  const wait = l.take('a');
  assert.equal(wait, 20, 'one request every 20 s at 3 a minute');
  assert.equal(l.take('b'), 0, 'another key has its own bucket');
  now += 19_000;
  assert.ok(l.take('a') >= 1, 'not yet');
  now += 1_000;
  assert.equal(l.take('a'), 0, 'after the Retry-After it gave');
  assert.ok(l.take('a') >= 1);
  const slow = new TokenBucketLimiter({ perMinute: 1000, now: () => now });
  for (let i = 0; i < 1000; i++) assert.equal(slow.take('x'), 0);
  assert.equal(slow.take('x'), 1, 'Retry-After is at least 1 s');
});

test('memory stays bounded: idle buckets are dropped, and at most maxKeys are kept', () => {
  let now = 0;
  const l = new TokenBucketLimiter({ perMinute: 5, now: () => now, maxKeys: 100 });
  for (let i = 0; i < 1000; i++) l.take(`ip-${i}`);
  assert.equal(l.size, 100, 'the least recently used beyond maxKeys are dropped');
  now += 60_000;
  l.take('late');
  assert.equal(l.size, 1, 'a bucket idle for a minute is full again: dropped');
});

test('client address keys: IPv4 as is (also IPv4-mapped), IPv6 by its /64', () => {
  assert.equal(clientAddressKey('203.0.113.7'), '203.0.113.7');
  assert.equal(clientAddressKey('::ffff:203.0.113.7'), '203.0.113.7');
  assert.equal(clientAddressKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
  assert.equal(clientAddressKey(undefined), 'unknown', 'a request whose socket closed has no address: one shared bucket, not a 500');
  assert.equal(clientAddressKey('2001:0db8:0001:0002:ffff:0:0:9'), '2001:db8:1:2::/64');
  assert.equal(clientAddressKey('2001:db8::5'), '2001:db8:0:0::/64');
  assert.equal(clientAddressKey('::1'), '0:0:0:0::/64');
  assert.notEqual(clientAddressKey('2001:db8:1:3::1'), clientAddressKey('2001:db8:1:2::1'));
});

test('which endpoints are limited: the unauthenticated surfaces per address, API-key mutations per key', () => {
  const byId = new Map(endpoints.map((e) => [e.id, e]));
  for (const id of ['callGuestKms', 'getKmsAuthInfo', 'checkAppBootAuth', 'checkKmsBootAuth', 'getSyslog', 'getContainerLog']) {
    assert.deepEqual(rateLimitsOf(byId.get(id)!), { clientIp: true, apiKey: false }, id);
  }
  assert.deepEqual(rateLimitsOf(byId.get('createApiToken')!), { clientIp: false, apiKey: true });
  assert.deepEqual(rateLimitsOf(byId.get('getCvmInfo') ?? byId.get('getAppList')!), { clientIp: false, apiKey: false });
  assert.deepEqual(rateLimitsOf(byId.get('getHealth')!).clientIp, false, 'health probes are not limited');
  // attestation verification, by its path alone
  assert.deepEqual(rateLimitsOf({ method: 'POST', path: '/api/v1/attestations/verify', auth: 'public' }), { clientIp: true, apiKey: false });
  for (const e of endpoints) {
    const l = rateLimitsOf(e);
    if (e.auth === 'apiKey' && e.method !== 'GET') assert.ok(l.apiKey, `${e.id}: a mutation with an API key`);
    if (e.auth === 'logToken' || e.auth === 'hostToken') assert.ok(l.clientIp, `${e.id}: anyone can reach it`);
  }
});

let env: TestEnv;
let now = 5_000_000;

before(async () => {
  env = await startTestEnv({
    // the test's requests come through a "proxy" on 127.0.0.1 naming the client in X-Forwarded-For
    config: { rateLimitPublic: 3, rateLimitMutations: 2, trustProxy: ['127.0.0.1'] },
    server: { rateLimitClock: () => now },
  });
});

after(async () => {
  await env?.close();
});

async function send(path: string, opts: { method?: string; from?: string; key?: string; body?: unknown; headers?: Record<string, string> } = {}) {
  const res = await fetch(`${env.server.url}${path}`, {
    method: opts.method ?? 'GET',
    headers: {
      ...(opts.from ? { 'X-Forwarded-For': opts.from } : {}),
      ...(opts.key ? { 'X-API-Key': opts.key } : {}),
      ...(opts.body === undefined ? {} : { 'Content-Type': 'application/json' }),
      ...opts.headers,
    },
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, retryAfter: res.headers.get('retry-after') };
}

function assert429(r: Awaited<ReturnType<typeof send>>, what: string): number {
  assert.equal(r.status, 429, what);
  assert.equal(r.body.detail.error_code, 'ERR-00-429', what);
  assert.match(r.body.detail.message, /retry in \d+ s/, what);
  assert.match(r.retryAfter ?? '', /^[1-9]\d*$/, `${what}: Retry-After is a whole number of seconds, at least 1`);
  assert.match(r.body.detail.message, new RegExp(`retry in ${r.retryAfter} s`), 'the message says the same wait');
  return Number(r.retryAfter);
}

test('per client address: the unauthenticated surfaces share one bucket per address, checked before any credential', async () => {
  const a = '198.51.100.1';
  // three requests of the address pass (whatever they answer: no KMS on that chain, a bad log token, a bad host token)
  assert.notEqual((await send('/kms-auth/ethereum/', { from: a })).status, 429);
  assert.notEqual((await send('/logs/syslog?token=nope', { from: a })).status, 429);
  assert.notEqual((await send('/kms/prpc/GetMeta', { method: 'POST', from: a, body: {} })).status, 429);
  // the fourth is refused before its credential is looked at
  const guest = await send('/kms/prpc/GetAppKey', { method: 'POST', from: a, body: {}, headers: { Authorization: 'Bearer whatever' } });
  const wait = assert429(guest, 'guest KMS');
  assert.equal(typeof guest.body.error, 'string', "the guest KMS's 429 carries dstack's pRPC {error} too");
  assert429(await send('/logs/container/web?token=nope', { from: a }), 'log URL');
  assert429(await send('/kms-auth/base/bootAuth/app', { method: 'POST', from: a, body: {} }), 'auth webhook');
  // another address is not affected
  assert.notEqual((await send('/kms-auth/ethereum/', { from: '198.51.100.2' })).status, 429);
  // API-key reads are not limited per address
  assert.equal((await send('/api/v1/user/ssh-keys', { from: a, key: env.apiKey })).status, 200);
  // once the wait the server gave has gone by, the address may ask again
  now += wait * 1000;
  assert.notEqual((await send('/kms-auth/ethereum/', { from: a })).status, 429);
});

test('per API key on mutations: two keys, each with its own bucket; reads are not limited', async () => {
  const other = (await env.server.services.auth.createWorkspace('limits-other')).apiKey;
  const create = (key: string, name: string) => send('/api/v1/tokens', { method: 'POST', key, body: { name } });
  assert.equal((await create(env.apiKey, 't1')).status, 200);
  assert.equal((await create(env.apiKey, 't2')).status, 200);
  const refused = await create(env.apiKey, 't3');
  const wait = assert429(refused, 'third mutation with the key');
  assert.match(refused.body.detail.message, /this API key/);
  // nothing was created by the refused request
  const names = (await send('/api/v1/tokens', { key: env.apiKey })).body;
  assert.equal(JSON.stringify(names).includes('"t3"'), false, 'the refused token was not created');
  // a mutation with another key passes; a read with the limited key passes
  assert.equal((await create(other, 'o1')).status, 200);
  for (let i = 0; i < 5; i++) assert.equal((await send('/api/v1/tokens', { key: env.apiKey })).status, 200, 'GET is not limited by the mutation limit');
  // a mutation that does not parse is counted as well (the key is checked first, then the limit)
  assert.equal((await send('/api/v1/tokens', { method: 'POST', key: other, body: { name: '' } })).status, 422);
  assert429(await create(other, 'o3'), 'the other key, now spent');
  // a wrong key is a 401, not a 429: the limit is per key, after the key is known
  assert.equal((await create('phak_not-a-key', 'x')).status, 401);
  now += wait * 1000;
  assert.equal((await create(env.apiKey, 't4')).status, 200, 'passes again after Retry-After');
});

test('without a trusted proxy, X-Forwarded-For is not believed: the socket address is the client', async () => {
  const plain = await startTestEnv({ config: { rateLimitPublic: 1, rateLimitMutations: 0 } });
  try {
    const get = (from: string) =>
      fetch(`${plain.server.url}/kms-auth/ethereum/`, { headers: { 'X-Forwarded-For': from } }).then(async (r) => ({ status: r.status, body: await r.json() }));
    assert.notEqual((await get('198.51.100.10')).status, 429);
    const r = await get('198.51.100.11');
    assert.equal(r.status, 429, 'another X-Forwarded-For, the same socket address: the same bucket');
    // mutations: off (0)
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${plain.apiUrl}/tokens`, { method: 'POST', headers: { 'X-API-Key': plain.apiKey, 'Content-Type': 'application/json' }, body: JSON.stringify({ name: `n${i}` }) });
      assert.equal(res.status, 200, 'OPENCVM_RATE_LIMIT_MUTATIONS=0: no limit');
    }
  } finally {
    await plain.close();
  }
});
