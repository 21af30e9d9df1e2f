/**
 * `GET /kms/phala/next_app_id` through the official SDK's `nextAppIds`: the workspace deployer's CREATE addresses
 * at its next nonces, nothing reserved; a provision that names one of them (`app_id` + `nonce`) gets it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from '@phala/cloud';
import { createAddress } from '@opencvm/core';
import { startTestEnv, type TestEnv } from './testing/harness.ts';
import { settle } from './testing/deploy.ts';

const composeYaml = `services:
  app:
    image: nginx:latest
`;

let env: TestEnv;
before(async () => {
  env = await startTestEnv();
});
after(async () => {
  await env?.close();
});

const client = (apiKey = env.apiKey) => createClient({ apiKey, baseURL: env.apiUrl });

async function deployer(slug = 'default'): Promise<{ wallet: string; next: number }> {
  const [ws] = await env.server.db.query<{ team_wallet: string; next_nonce: string }>('SELECT team_wallet, next_nonce FROM workspaces WHERE slug = $1', [slug]);
  return { wallet: ws.team_wallet, next: Number(ws.next_nonce) };
}

const raw = (path: string, apiKey: string | null = env.apiKey) =>
  fetch(`${env.apiUrl}${path}`, { headers: apiKey ? { 'X-API-Key': apiKey } : {} });

test('nextAppIds: the deployer\'s CREATE addresses at its next nonces, in order, reserving nothing', async () => {
  // move the counter off zero first, so "next" means the counter and not the first nonces
  const first = await client().provisionCvm({ name: 'next-ids-first', compose_file: { docker_compose_file: composeYaml } });
  const { wallet, next } = await deployer();
  assert.ok(next >= 1);
  assert.equal(first.app_id, createAddress(wallet, next - 1));

  const three = await client().nextAppIds({ counts: 3 });
  assert.deepEqual(three, {
    app_ids: [0, 1, 2].map((i) => ({ app_id: createAddress(wallet, next + i), nonce: next + i })),
  });
  // default: one; asking again gives the same ids (nothing was taken)
  assert.deepEqual(await client().nextAppIds(), { app_ids: [three.app_ids[0]] });
  assert.deepEqual(await client().nextAppIds({ counts: 3 }), three);
  assert.equal((await deployer()).next, next);

  // 20 is the most
  const twenty = await client().nextAppIds({ counts: 20 });
  assert.equal(twenty.app_ids.length, 20);
  assert.equal(new Set(twenty.app_ids.map((a) => a.app_id)).size, 20);
  assert.equal(twenty.app_ids[19]!.nonce, next + 19);
});

test('a provision with an {app_id, nonce} from nextAppIds gets that app id; the next look-ahead starts after it', async () => {
  const { app_ids } = await client().nextAppIds({ counts: 2 });
  // the second one: a caller may skip ahead
  const chosen = app_ids[1]!;
  const p = await client().provisionCvm({
    name: 'next-ids-chosen', app_id: chosen.app_id, nonce: chosen.nonce, compose_file: { docker_compose_file: composeYaml },
  });
  assert.equal(p.app_id, chosen.app_id);
  const vm = await client().commitCvmProvision({ app_id: p.app_id!, compose_hash: p.compose_hash });
  assert.equal(vm.app_id, chosen.app_id);
  await settle(env, vm.vm_uuid!, 'running');

  const after = await client().nextAppIds();
  assert.equal(after.app_ids[0]!.nonce, chosen.nonce + 1);
  // the one taken is refused if asked for again
  const again = await client().safeProvisionCvm({
    name: 'next-ids-again', app_id: chosen.app_id, nonce: chosen.nonce, compose_file: { docker_compose_file: composeYaml },
  });
  assert.equal(again.success, false);
  // a provision without a nonce takes the first one offered
  const plain = await client().provisionCvm({ name: 'next-ids-plain', compose_file: { docker_compose_file: composeYaml } });
  assert.equal(plain.app_id, after.app_ids[0]!.app_id);
});

test('each workspace has its own deployer, so its own ids', async () => {
  const other = await env.server.services.auth.createWorkspace('next-ids-other');
  const mine = await client().nextAppIds({ counts: 2 });
  const theirs = await client(other.apiKey).nextAppIds({ counts: 2 });
  const { wallet } = await deployer('next-ids-other');
  assert.deepEqual(theirs.app_ids, [0, 1].map((n) => ({ app_id: createAddress(wallet, n), nonce: n })));
  assert.equal(mine.app_ids.some((a) => theirs.app_ids.some((b) => b.app_id === a.app_id)), false);
});

test('counts out of 1..20 or not a number → 422 naming counts; no API key → 401', async () => {
  for (const bad of ['0', '21', 'abc', '1.5']) {
    const res = await raw(`/kms/phala/next_app_id?counts=${bad}`);
    assert.equal(res.status, 422, `counts=${bad}`);
    assert.match(JSON.stringify(await res.json()), /counts/);
  }
  const anon = await raw('/kms/phala/next_app_id', null);
  assert.equal(anon.status, 401);
});

test('routing: /kms/phala is still the KMS, /kms/phala/next_app_id the look-ahead, /kms/phala/pubkey/{app} the key', async () => {
  const kms = await raw('/kms/phala');
  assert.equal(kms.status, 200);
  assert.equal(((await kms.json()) as { slug: string }).slug, 'phala');
  const ids = await raw('/kms/phala/next_app_id');
  assert.equal(ids.status, 200);
  const { app_ids } = (await ids.json()) as { app_ids: { app_id: string }[] };
  assert.equal(app_ids.length, 1);
  const key = await raw(`/kms/phala/pubkey/${app_ids[0]!.app_id}`);
  assert.equal(key.status, 200);
  assert.match(((await key.json()) as { public_key: string }).public_key, /^[0-9a-f]{64}$/);
  // the id of the KMS is still not a path for the look-ahead of another KMS type
  assert.equal((await raw('/kms/ethereum/next_app_id')).status, 404);
});
