/**
 * Provision and commit failures (`POST /cvms/provision`, `POST /cvms`), driven by the official `@phala/cloud` SDK's safe actions
 * against a real server: every bad input comes back as `success: false` with the Phala error code and a
 * message that names the problem. Where the SDK validates client-side (names, size, kms enum) the same body
 * is also posted raw, so the server's own validation is tested too. After every failure the store and the
 * host are checked: nothing half-written (no CVM, app, provision, operation or host VM; nonce unchanged).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient, ResourceError, encryptEnvVars } from '@phala/cloud';
import { randomBytes } from 'node:crypto';
import { checksumAddress, createAddress } from '@opencvm/core';
import { startTestEnv, type TestEnv } from './testing/harness.ts';
import { waitFor } from './testing/wait.ts';

const composeYaml = `services:
  app:
    image: nginx:latest
    ports:
      - "80:80"
`;

let env: TestEnv;
before(async () => {
  env = await startTestEnv();
});
after(async () => {
  await env?.close();
});

const randomHexForTest = (bytes: number) => randomBytes(bytes).toString('hex');

const client = (apiKey = env.apiKey) => createClient({ apiKey, baseURL: env.apiUrl });

// ---------------------------------------------------------------------------------------------
// helpers

interface Snapshot {
  cvms: number;
  apps: number;
  provisions: number;
  committed: number;
  operations: number;
  nonces: string;
  hostVms: number;
}

/** What a failed request must leave unchanged. Waits until every committed CVM has its host VM first. */
async function snapshot(): Promise<Snapshot> {
  const [row] = await env.server.db.query<Omit<Snapshot, 'hostVms'>>(
    `SELECT (SELECT count(*)::int FROM cvms) AS cvms,
            (SELECT count(*)::int FROM apps) AS apps,
            (SELECT count(*)::int FROM provisions) AS provisions,
            (SELECT count(*)::int FROM provisions WHERE committed_at IS NOT NULL) AS committed,
            (SELECT count(*)::int FROM operations) AS operations,
            (SELECT string_agg(id || ':' || next_nonce, ',' ORDER BY id) FROM workspaces) AS nonces`,
  );
  const hostVms = await waitFor(() => {
    const n = env.sim.listVms().length;
    return n === row.cvms ? n : null;
  }, 10_000);
  return { ...row, hostVms };
}

/** Run a failing call and assert the store and host look exactly as before it. */
async function nothingWritten<T>(fn: () => Promise<T>): Promise<T> {
  const before = await snapshot();
  const result = await fn();
  assert.deepEqual(await snapshot(), before, 'a failed request changed the store or the host');
  return result;
}

function assertResourceError(result: { success: boolean; error?: unknown }, code: string, status: number, message: RegExp) {
  assert.equal(result.success, false, 'expected the call to fail');
  const err = result.error as ResourceError;
  assert.ok(err instanceof ResourceError, `expected a ResourceError, got ${(err as any)?.constructor?.name}: ${(err as any)?.message}`);
  assert.equal(err.errorCode, code, `error code (message: ${err.message})`);
  assert.equal(err.status, status, `HTTP status (message: ${err.message})`);
  assert.match(err.message, message);
}

/** The SDK rejected the input before sending it: a ZodError whose issues say why. */
function assertClientSideRejection(result: { success: boolean; error?: unknown }, message: RegExp) {
  assert.equal(result.success, false, 'expected the SDK to reject the input');
  const err = result.error as { issues?: { message: string }[] };
  assert.ok(Array.isArray(err.issues), `expected a ZodError, got ${JSON.stringify(err)}`);
  assert.ok(err.issues.some((i) => message.test(i.message)), `no issue matches ${message}: ${JSON.stringify(err.issues)}`);
}

async function rawPost(path: string, body: unknown, apiKey = env.apiKey) {
  const res = await fetch(`${env.apiUrl}${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-API-Key': apiKey },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    assert.fail(`response to POST ${path} is not JSON (HTTP ${res.status}): ${text.slice(0, 200)}`);
  }
  return { status: res.status, body: json };
}

function assertEnvelope(res: { status: number; body: any }, status: number, code: string, message: RegExp) {
  assert.equal(res.status, status, JSON.stringify(res.body));
  const d = res.body?.detail;
  assert.ok(d && typeof d === 'object', `no {"detail": {...}} envelope: ${JSON.stringify(res.body)}`);
  assert.equal(d.error_code, code, d.message);
  assert.equal(typeof d.message, 'string');
  assert.match(d.message, message);
  assert.ok(Array.isArray(d.details) && Array.isArray(d.suggestions) && Array.isArray(d.links), 'envelope fields');
}

async function teamWallet(slug = 'default'): Promise<string> {
  const [ws] = await env.server.db.query<{ team_wallet: string }>('SELECT team_wallet FROM workspaces WHERE slug = $1', [slug]);
  return ws.team_wallet;
}

/** Provision + commit + wait until the host has the VM. */
async function deploy(name: string, opts: { apiKey?: string; allowed?: string[] } = {}) {
  const c = client(opts.apiKey);
  const p = await c.provisionCvm({ name, compose_file: { docker_compose_file: composeYaml, allowed_envs: opts.allowed } });
  const vm = await c.commitCvmProvision({ app_id: p.app_id!, compose_hash: p.compose_hash });
  await waitFor(() => env.sim.listVms().find((v) => v.appId === p.app_id) ?? null, 10_000);
  return { provision: p, vm };
}

const provisionBody = (over: Record<string, unknown> = {}) => ({
  name: 'valid-name',
  instance_type: 'tdx.small',
  compose_file: { docker_compose_file: composeYaml },
  ...over,
});

// ---------------------------------------------------------------------------------------------
// names

const badNames: { label: string; name: string }[] = [
  { label: 'that is too short', name: 'abc' },
  { label: 'that starts with a digit', name: '1app-name' },
  { label: 'with bad characters', name: 'my_app!name' },
];

for (const { label, name } of badNames) {
  test(`provision: a name ${label} is refused by the SDK and by the server`, async () => {
    await nothingWritten(async () => {
      // the SDK validates hostnames itself, so the request never leaves the client
      const sdk = await client().safeProvisionCvm(provisionBody({ name }) as any);
      assertClientSideRejection(sdk, /Name must be 5-63 characters/);

      // the server validates on its own: 422 ERR-02-008 naming the field and the rule
      const raw = await rawPost('/cvms/provision', provisionBody({ name }));
      assertEnvelope(raw, 422, 'ERR-02-008', new RegExp(`"${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}" is not a valid CVM name`));
      assert.match(raw.body.detail.message, /5–63 characters, starting with a letter/);
      assert.deepEqual(raw.body.detail.details.map((d: any) => d.field), ['name']);

      // the SDK's own client, bypassing the action's validation, turns that envelope into a ResourceError
      const viaClient = await client().safePost('/cvms/provision', provisionBody({ name }));
      assertResourceError(viaClient, 'ERR-02-008', 422, /is not a valid CVM name/);
    });
  });
}

test('provision: names the server refuses beyond the SDK rules (missing, "--", too long)', async () => {
  await nothingWritten(async () => {
    const missing = await rawPost('/cvms/provision', { compose_file: { docker_compose_file: composeYaml } });
    assertEnvelope(missing, 422, 'ERR-02-008', /name.*required/);
    const doubleHyphen = await rawPost('/cvms/provision', provisionBody({ name: 'my--app' }));
    assertEnvelope(doubleHyphen, 422, 'ERR-02-008', /"my--app" is not a valid CVM name/);
    const tooLong = await rawPost('/cvms/provision', provisionBody({ name: 'a'.repeat(64) }));
    assertEnvelope(tooLong, 422, 'ERR-02-008', /is not a valid CVM name/);
    const trailingHyphen = await rawPost('/cvms/provision', provisionBody({ name: 'my-app-' }));
    assertEnvelope(trailingHyphen, 422, 'ERR-02-008', /"my-app-" is not a valid CVM name/);
  });
});

// ---------------------------------------------------------------------------------------------
// the compose file

/** A valid compose padded with a YAML comment to exactly `bytes` bytes. */
function composeOfSize(bytes: number): string {
  const head = 'services:\n  app:\n    image: nginx:latest\n# ';
  return head + 'x'.repeat(bytes - head.length - 1) + '\n';
}

test('provision: compose + pre_launch_script over 200 KB is refused (SDK client-side, server 413 ERR-01-003)', async () => {
  await nothingWritten(async () => {
    const compose = composeOfSize(150 * 1024);
    const script = '#!/bin/sh\n' + 'echo padding\n'.repeat(Math.ceil((60 * 1024) / 13));
    const body = provisionBody({ name: 'too-big-app', compose_file: { docker_compose_file: compose, pre_launch_script: script } });

    const sdk = await client().safeProvisionCvm(body as any);
    assertClientSideRejection(sdk, /must not exceed 200KB/);

    const raw = await rawPost('/cvms/provision', body);
    const total = Buffer.byteLength(compose) + Buffer.byteLength(script);
    assertEnvelope(raw, 413, 'ERR-01-003', new RegExp(`together are ${total} bytes; the limit is 204800 bytes`));

    const composeOnly = await rawPost('/cvms/provision', provisionBody({ name: 'too-big-app', compose_file: { docker_compose_file: composeOfSize(200 * 1024 + 1) } }));
    assertEnvelope(composeOnly, 413, 'ERR-01-003', /204801 bytes; the limit is 204800 bytes/);

    const viaClient = await client().safePost('/cvms/provision', body);
    assertResourceError(viaClient, 'ERR-01-003', 413, /the limit is 204800 bytes/);
  });
});

test('provision: exactly 200 KB of compose + script is accepted by both the SDK and the server', async () => {
  const script = '#!/bin/sh\necho hi\n';
  const compose = composeOfSize(200 * 1024 - Buffer.byteLength(script));
  const res = await client().safeProvisionCvm({
    name: 'size-boundary',
    compose_file: { docker_compose_file: compose, pre_launch_script: script },
  });
  assert.ok(res.success, JSON.stringify((res as any).error));
});

test('provision: docker_compose_file that is not YAML → ERR-01-003 with the parser\'s words', async () => {
  await nothingWritten(async () => {
    const res = await client().safeProvisionCvm({
      name: 'bad-yaml-app',
      compose_file: { docker_compose_file: 'services:\n  app:\n    image: [nginx\n    ports: "80:80\n' },
    });
    assertResourceError(res, 'ERR-01-003', 400, /docker_compose_file is not valid YAML: .+/);
  });
});

test('provision: YAML without services → ERR-01-003', async () => {
  await nothingWritten(async () => {
    for (const yaml of ['version: "3"\nvolumes:\n  data: {}\n', 'services: {}\n', 'services:\n']) {
      const res = await client().safeProvisionCvm({ name: 'no-services-app', compose_file: { docker_compose_file: yaml } });
      assertResourceError(res, 'ERR-01-003', 400, /docker_compose_file has no services/);
    }
    for (const yaml of ['just a string\n', '- a\n- list\n']) {
      const res = await client().safeProvisionCvm({ name: 'no-services-app', compose_file: { docker_compose_file: yaml } });
      assertResourceError(res, 'ERR-01-003', 400, /must be a YAML mapping with a "services" section/);
    }
  });
});

test('provision: missing docker_compose_file → ERR-01-002', async () => {
  await nothingWritten(async () => {
    const res = await client().safeProvisionCvm({ name: 'no-compose-app', compose_file: { allowed_envs: ['A'] } });
    assertResourceError(res, 'ERR-01-002', 400, /docker_compose_file is required/);
    const blank = await client().safeProvisionCvm({ name: 'no-compose-app', compose_file: { docker_compose_file: '  \n ' } });
    assertResourceError(blank, 'ERR-01-002', 400, /docker_compose_file is required/);
    const noComposeObject = await rawPost('/cvms/provision', { name: 'no-compose-app' });
    assertEnvelope(noComposeObject, 422, 'ERR-02-008', /compose_file/);
  });
});

// ---------------------------------------------------------------------------------------------
// catalogue references

test('provision: unknown instance_type → ERR-02-001 listing the valid ones', async () => {
  await nothingWritten(async () => {
    const res = await client().safeProvisionCvm({ name: 'bad-type-app', instance_type: 'tdx.gigantic', compose_file: { docker_compose_file: composeYaml } });
    assertResourceError(res, 'ERR-02-001', 400, /instance_type "tdx\.gigantic" does not exist: use one of .*tdx\.small/);
  });
});

test('provision: unknown KMS → ERR-02-011 (by kms_id, by kms type, and ETHEREUM/BASE with no on-chain KMS)', async () => {
  await nothingWritten(async () => {
    const byId = await client().safeProvisionCvm({ name: 'bad-kms-app', kms_id: 'kms-nowhere', compose_file: { docker_compose_file: composeYaml } });
    assertResourceError(byId, 'ERR-02-011', 400, /KMS "kms-nowhere" does not exist/);

    // the SDK only knows PHALA|ETHEREUM|BASE; the server says the same on its own
    const sdkType = await client().safeProvisionCvm({ name: 'bad-kms-app', kms: 'VAULT', compose_file: { docker_compose_file: composeYaml } } as any);
    assertClientSideRejection(sdkType, /PHALA|ETHEREUM|BASE|Invalid (enum|option)/i);
    const rawType = await rawPost('/cvms/provision', provisionBody({ kms: 'VAULT' }));
    assertEnvelope(rawType, 400, 'ERR-02-011', /"VAULT" is not a KMS type: use PHALA, ETHEREUM or BASE/);

    for (const kms of ['ETHEREUM', 'BASE'] as const) {
      const res = await client().safeProvisionCvm({ name: 'onchain-kms-app', kms, compose_file: { docker_compose_file: composeYaml } });
      assertResourceError(res, 'ERR-02-011', 400, new RegExp(`No ${kms} KMS is configured on this server`));
    }
    // the built-in KMS asked for as an on-chain type
    const wrongType = await client().safeProvisionCvm({ name: 'onchain-kms-app', kms: 'ETHEREUM', kms_id: 'phala', compose_file: { docker_compose_file: composeYaml } });
    assertResourceError(wrongType, 'ERR-02-011', 400, /is a PHALA KMS, not ETHEREUM/);
  });
});

test('provision: unknown image → ERR-02-010 listing the images', async () => {
  await nothingWritten(async () => {
    const res = await client().safeProvisionCvm({ name: 'bad-image-app', image: 'dstack-9.9.9', compose_file: { docker_compose_file: composeYaml } });
    assertResourceError(res, 'ERR-02-010', 400, /OS image "dstack-9\.9\.9" does not exist: use one of .*dstack-/);
  });
});

test('provision: unknown node_id → ERR-01-001 (SDK sends it as teepod_id)', async () => {
  await nothingWritten(async () => {
    const res = await client().safeProvisionCvm({ name: 'bad-node-app', node_id: 987654, compose_file: { docker_compose_file: composeYaml } });
    assertResourceError(res, 'ERR-01-001', 400, /Node 987654 does not exist/);
    const raw = await rawPost('/cvms/provision', provisionBody({ teepod_id: 987654 }));
    assertEnvelope(raw, 400, 'ERR-01-001', /Node 987654/);
  });
});

test('provision: unknown region → ERR-02-002 naming the available regions', async () => {
  await nothingWritten(async () => {
    const res = await client().safeProvisionCvm({ name: 'bad-region-app', region: 'mars-north-1', compose_file: { docker_compose_file: composeYaml } });
    assertResourceError(res, 'ERR-02-002', 400, /No node in region "mars-north-1": available regions are local/);
  });
});

// ---------------------------------------------------------------------------------------------
// nonce and app_id

test('provision: nonce without app_id, app_id without nonce, and a mismatched pair → ERR-02-008', async () => {
  const wallet = await teamWallet();
  await env.server.services.auth.createWorkspace('nonce-other');
  const otherWallet = await teamWallet('nonce-other');
  await nothingWritten(async () => {
    const c = client();
    const nonceOnly = await c.safeProvisionCvm({ name: 'nonce-app', nonce: 7, compose_file: { docker_compose_file: composeYaml } });
    assertResourceError(nonceOnly, 'ERR-02-008', 400, /nonce requires app_id/);

    const appIdOnly = await c.safeProvisionCvm({ name: 'nonce-app', app_id: createAddress(wallet, 7), compose_file: { docker_compose_file: composeYaml } });
    assertResourceError(appIdOnly, 'ERR-02-008', 400, /app_id requires nonce/);

    const wrongNonce = await c.safeProvisionCvm({ name: 'nonce-app', nonce: 7, app_id: createAddress(wallet, 8), compose_file: { docker_compose_file: composeYaml } });
    assertResourceError(wrongNonce, 'ERR-02-008', 400, new RegExp(`does not match nonce 7: for this workspace nonce 7 gives app_id ${createAddress(wallet, 7)}`));

    const random = randomHexForTest(20);
    const wrongApp = await c.safeProvisionCvm({ name: 'nonce-app', nonce: 7, app_id: random, compose_file: { docker_compose_file: composeYaml } });
    assertResourceError(wrongApp, 'ERR-02-008', 400, new RegExp(`app_id ${random} does not match nonce 7`));

    // another workspace's (nonce, app_id) pair is not this workspace's
    const foreign = await c.safeProvisionCvm({ name: 'nonce-app', nonce: 7, app_id: createAddress(otherWallet, 7), compose_file: { docker_compose_file: composeYaml } });
    assertResourceError(foreign, 'ERR-02-008', 400, /does not match nonce 7/);
  });
});

test('provision: a correct nonce + app_id pair is accepted and yields that app_id; reusing it after commit is a conflict', async () => {
  const wallet = await teamWallet();
  const appId = createAddress(wallet, 1000);
  const c = client();
  const res = await c.safeProvisionCvm({ name: 'custom-app-id', nonce: 1000, app_id: appId, compose_file: { docker_compose_file: composeYaml } });
  assert.ok(res.success, JSON.stringify((res as any).error));
  assert.equal(res.data.app_id, appId);
  assert.match(res.data.app_env_encrypt_pubkey!, /^[0-9a-f]{64}$/);

  // the checksummed 0x form names the same app
  const appId2 = createAddress(wallet, 1001);
  const res2 = await c.safeProvisionCvm({ name: 'custom-app-id-2', nonce: 1001, app_id: checksumAddress(appId2), compose_file: { docker_compose_file: composeYaml } });
  assert.ok(res2.success, JSON.stringify((res2 as any).error));
  assert.equal(res2.data.app_id, appId2);

  const vm = await c.commitCvmProvision({ app_id: res.data.app_id!, compose_hash: res.data.compose_hash });
  assert.equal(vm.app_id, appId);
  await waitFor(() => env.sim.listVms().find((v) => v.appId === appId) ?? null, 10_000);
  const [app] = await env.server.db.query<{ nonce: string }>('SELECT nonce FROM apps WHERE app_id = $1', [appId]);
  assert.equal(Number(app.nonce), 1000);

  await nothingWritten(async () => {
    const again = await c.safeProvisionCvm({ name: 'custom-app-id-3', nonce: 1000, app_id: appId, compose_file: { docker_compose_file: composeYaml } });
    assertResourceError(again, 'ERR-03-007', 409, new RegExp(`app_id ${appId} \\(nonce 1000\\) is already in use`));
  });
});

// ---------------------------------------------------------------------------------------------
// duplicate names

test('provision: a second CVM with the same name in the workspace → ERR-01-004 (409); another workspace may use it', async () => {
  await deploy('dup-name-app');
  await nothingWritten(async () => {
    const res = await client().safeProvisionCvm({ name: 'dup-name-app', compose_file: { docker_compose_file: composeYaml } });
    assertResourceError(res, 'ERR-01-004', 409, /A CVM named "dup-name-app" already exists in this workspace/);
  });

  const other = await env.server.services.auth.createWorkspace('dup-other');
  const { vm } = await deploy('dup-name-app', { apiKey: other.apiKey });
  assert.equal(vm.name, 'dup-name-app');
  const [{ n }] = await env.server.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM cvms WHERE name = 'dup-name-app'`);
  assert.equal(n, 2);
});

test('commit: two provisions of one name — the second commit is ERR-01-004 (409) and leaves its provision usable', async () => {
  const c = client();
  const first = await c.provisionCvm({ name: 'race-name-app', compose_file: { docker_compose_file: composeYaml } });
  const second = await c.provisionCvm({ name: 'race-name-app', compose_file: { docker_compose_file: composeYaml } });
  assert.notEqual(first.app_id, second.app_id);
  await c.commitCvmProvision({ app_id: first.app_id!, compose_hash: first.compose_hash });
  await waitFor(() => env.sim.listVms().find((v) => v.appId === first.app_id) ?? null, 10_000);
  await nothingWritten(async () => {
    const res = await c.safeCommitCvmProvision({ app_id: second.app_id!, compose_hash: second.compose_hash });
    assertResourceError(res, 'ERR-01-004', 409, /A CVM named "race-name-app" already exists/);
  });
  const [prov] = await env.server.db.query<{ committed_at: Date | null }>('SELECT committed_at FROM provisions WHERE app_id = $1', [second.app_id]);
  assert.equal(prov.committed_at, null);
});

test('commit: two commits of one name at once — exactly one wins, the other is ERR-01-004 (409)', async () => {
  const c = client();
  const a = await c.provisionCvm({ name: 'race-concurrent', compose_file: { docker_compose_file: composeYaml } });
  const b = await c.provisionCvm({ name: 'race-concurrent', compose_file: { docker_compose_file: composeYaml } });
  const results = await Promise.all([
    c.safeCommitCvmProvision({ app_id: a.app_id!, compose_hash: a.compose_hash }),
    c.safeCommitCvmProvision({ app_id: b.app_id!, compose_hash: b.compose_hash }),
  ]);
  const wins = results.filter((r) => r.success);
  assert.equal(wins.length, 1, JSON.stringify(results.map((r) => (r.success ? 'ok' : (r.error as Error).message))));
  const lost = results.find((r) => !r.success)!;
  assertResourceError(lost, 'ERR-01-004', 409, /A CVM named "race-concurrent" already exists/);
  const [{ n }] = await env.server.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM cvms WHERE name = 'race-concurrent'`);
  assert.equal(n, 1);
  await snapshot();
});

test('commit: the same provision committed twice at once — one CVM, the other ERR-01-006', async () => {
  const c = client();
  const p = await c.provisionCvm({ name: 'double-commit', compose_file: { docker_compose_file: composeYaml } });
  const results = await Promise.all([1, 2, 3].map(() => c.safeCommitCvmProvision({ app_id: p.app_id!, compose_hash: p.compose_hash })));
  assert.equal(results.filter((r) => r.success).length, 1, JSON.stringify(results.map((r) => (r.success ? 'ok' : (r.error as Error).message))));
  for (const r of results.filter((r) => !r.success)) assertResourceError(r, 'ERR-01-006', 400, /was already committed/);
  const [{ n }] = await env.server.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM cvms WHERE app_id = $1`, [p.app_id]);
  assert.equal(n, 1);
  await snapshot();
});

// ---------------------------------------------------------------------------------------------
// commit

test('commit: unknown compose_hash → ERR-01-006', async () => {
  const c = client();
  const p = await c.provisionCvm({ name: 'commit-unknown', compose_file: { docker_compose_file: composeYaml } });
  await nothingWritten(async () => {
    const hash = randomHexForTest(32);
    const res = await c.safeCommitCvmProvision({ app_id: p.app_id!, compose_hash: hash });
    assertResourceError(res, 'ERR-01-006', 400, new RegExp(`compose_hash ${hash} was not provisioned in this workspace`));
  });
});

test('commit: a compose_hash already committed → ERR-01-006', async () => {
  const { provision } = await deploy('commit-twice');
  await nothingWritten(async () => {
    const res = await client().safeCommitCvmProvision({ app_id: provision.app_id!, compose_hash: provision.compose_hash });
    assertResourceError(res, 'ERR-01-006', 400, /was already committed: provision again/);
  });
});

test('commit: an expired provision → ERR-01-006', async () => {
  const c = client();
  const p = await c.provisionCvm({ name: 'commit-expired', compose_file: { docker_compose_file: composeYaml } });
  await env.server.db.query(`UPDATE provisions SET expires_at = now() - interval '1 minute' WHERE app_id = $1`, [p.app_id]);
  await nothingWritten(async () => {
    const res = await c.safeCommitCvmProvision({ app_id: p.app_id!, compose_hash: p.compose_hash });
    assertResourceError(res, 'ERR-01-006', 400, /The provision of compose_hash [0-9a-f]{64} expired at .*: provision again/);
  });
  const [prov] = await env.server.db.query<{ committed_at: Date | null }>('SELECT committed_at FROM provisions WHERE app_id = $1', [p.app_id]);
  assert.equal(prov.committed_at, null);
});

test('commit: an app_id that is not the provision\'s → ERR-01-006', async () => {
  const c = client();
  const p = await c.provisionCvm({ name: 'commit-wrong-app', compose_file: { docker_compose_file: composeYaml } });
  const other = await c.provisionCvm({ name: 'commit-other-app', compose_file: { docker_compose_file: composeYaml } });
  await nothingWritten(async () => {
    // the app_id of another live provision
    const res = await c.safeCommitCvmProvision({ app_id: other.app_id!, compose_hash: p.compose_hash });
    assertResourceError(res, 'ERR-01-006', 400, new RegExp(`was not provisioned in this workspace for app ${other.app_id}`));
    // an app_id nobody provisioned
    const random = randomHexForTest(20);
    const res2 = await c.safeCommitCvmProvision({ app_id: random, compose_hash: p.compose_hash });
    assertResourceError(res2, 'ERR-01-006', 400, new RegExp(`for app ${random}`));
  });
  // another workspace cannot commit this workspace's provision
  const ws = await env.server.services.auth.createWorkspace('commit-thief');
  await nothingWritten(async () => {
    const res = await client(ws.apiKey).safeCommitCvmProvision({ app_id: p.app_id!, compose_hash: p.compose_hash });
    assertResourceError(res, 'ERR-01-006', 400, /was not provisioned in this workspace/);
  });
  // the right pair still commits
  const vm = await c.commitCvmProvision({ app_id: p.app_id!, compose_hash: p.compose_hash });
  assert.equal(vm.app_id, p.app_id);
  await waitFor(() => env.sim.listVms().find((v) => v.appId === p.app_id) ?? null, 10_000);
});

test('commit: env_keys outside allowed_envs → ERR-02-009 naming the keys; the provision stays usable', async () => {
  const c = client();
  const p = await c.provisionCvm({ name: 'commit-env-keys', compose_file: { docker_compose_file: composeYaml, allowed_envs: ['API_KEY'] } });
  const encrypted = await encryptEnvVars([{ key: 'API_KEY', value: 'v' }, { key: 'DB_PASSWORD', value: 'w' }], p.app_env_encrypt_pubkey!);
  await nothingWritten(async () => {
    const res = await c.safeCommitCvmProvision({ app_id: p.app_id!, compose_hash: p.compose_hash, encrypted_env: encrypted, env_keys: ['API_KEY', 'DB_PASSWORD'] });
    assertResourceError(res, 'ERR-02-009', 400, /env_keys DB_PASSWORD are not in the compose's allowed_envs/);
    assert.doesNotMatch((res.error as Error).message, /API_KEY,/);
  });
  const ok = await c.safeCommitCvmProvision({ app_id: p.app_id!, compose_hash: p.compose_hash, encrypted_env: encrypted, env_keys: ['API_KEY'] });
  assert.ok(ok.success, JSON.stringify((ok as any).error));
  const vm = await waitFor(() => env.sim.listVms().find((v) => v.appId === p.app_id && v.bootProgress === 'done') ?? null, 10_000);
  assert.deepEqual(vm.guest.env, { API_KEY: 'v' });
  assert.deepEqual(vm.guest.droppedEnvKeys, ['DB_PASSWORD']);
});

test('commit: a malformed body → 422 ERR-02-008 naming the fields; a body that is not JSON → 400', async () => {
  const c = client();
  const p = await c.provisionCvm({ name: 'commit-malformed', compose_file: { docker_compose_file: composeYaml } });
  await nothingWritten(async () => {
    const empty = await rawPost('/cvms', {});
    assertEnvelope(empty, 422, 'ERR-02-008', /app_id: app_id is required.*compose_hash: compose_hash is required/);
    assert.deepEqual(empty.body.detail.details.map((d: any) => d.field).sort(), ['app_id', 'compose_hash']);

    const shortHash = await rawPost('/cvms', { app_id: p.app_id, compose_hash: 'abc123' });
    assertEnvelope(shortHash, 422, 'ERR-02-008', /compose_hash must be 64 hex characters/);

    const badAppId = await rawPost('/cvms', { app_id: 'not-an-app', compose_hash: p.compose_hash });
    assertEnvelope(badAppId, 422, 'ERR-02-008', /app_id "not-an-app" is not an app id/);

    const badEnv = await rawPost('/cvms', { app_id: p.app_id, compose_hash: p.compose_hash, encrypted_env: 'zz-not-hex' });
    assertEnvelope(badEnv, 422, 'ERR-02-008', /encrypted_env must be the hex string/);

    const wrongTypes = await rawPost('/cvms', { app_id: 42, compose_hash: p.compose_hash, env_keys: 'API_KEY' });
    assertEnvelope(wrongTypes, 422, 'ERR-02-008', /app_id.*env_keys|env_keys.*app_id/);

    const notJson = await rawPost('/cvms', '{"app_id": ');
    assertEnvelope(notJson, 400, 'ERR-02-008', /not valid JSON/);

    const arrayBody = await rawPost('/cvms', [p.app_id, p.compose_hash]);
    assertEnvelope(arrayBody, 422, 'ERR-02-008', /./);

    // and through the SDK, which sends the body unvalidated
    const sdk = await c.safeCommitCvmProvision({ app_id: p.app_id!, compose_hash: 'nothex' });
    assertResourceError(sdk, 'ERR-02-008', 422, /compose_hash must be 64 hex characters/);
  });
});

test('provision failures after all of the above left no stray CVMs on the host', async () => {
  const [{ n }] = await env.server.db.query<{ n: number }>('SELECT count(*)::int AS n FROM cvms');
  const appIds = new Set((await env.server.db.query<{ app_id: string }>('SELECT app_id FROM cvms')).map((r) => r.app_id));
  await waitFor(() => (env.sim.listVms().length === n ? true : null), 10_000);
  for (const vm of env.sim.listVms()) assert.ok(appIds.has(vm.appId), `host VM ${vm.name} has no CVM row`);
});
