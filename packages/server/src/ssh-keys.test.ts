/**
 * `/user/ssh-keys…` through the official SDK (`listSshKeys`, `createSshKey`, `deleteSshKey`,
 * `importGithubProfileSshKeys`, `syncGithubSshKeys`): validation and fingerprints, one user's keys invisible to
 * another, the keys in the user_config of CVMs deployed afterwards (and in the simulated guest), and the GitHub
 * import against a local stand-in for github.com: working, then unreachable (a closed port, a silent server).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createClient, getCvmUserConfig, ResourceError } from '@phala/cloud';
import { startTestEnv, type TestEnv } from './testing/harness.ts';
import { deployRunning } from './testing/deploy.ts';
import { waitFor } from './testing/wait.ts';
import { cvmNameOf } from './services/host-vm-names.ts';

/** Keys made with OpenSSH's ssh-keygen and the fingerprints `ssh-keygen -lf` printed for them. */
const ED25519 = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGVt3pYWqWfNqTp1Mnia0USr+3nl2xBwEP8qMteYF+gn vec-ed25519@opencvm';
const ED25519_FP = 'SHA256:YC6QoWZuyuEERU/YIInUEEOBwkhmuY/z1y7iGRLdTuI';
const ECDSA = 'ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBFbrUno4I/jiH3KEgDP4LhWMjozJURetO3utpT2upKU/qZNPu71dVORoay0P7CKL4p5tOvNeWe8URt81Ss93mNY= vec-ecdsab256@opencvm';
const ECDSA_FP = 'SHA256:RyIuW3p2kPsD7MmPrLkUSRNpoy2gw9yOxdLu13zdQwI';
const ECDSA384 = 'ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQAAABhBNHoS/IBM3Naqk94uGxSrFQwyvlWEt279d5eF/wUdmNWsTlWmG4B8bcqyV+qvXHQ07fjce24R6Htay6TUd+X3RP8rh/4TrjkgTnhAmI3fGFnTUtytruZD+5nf4CFz8y3zA== vec-ecdsab384@opencvm';
const ECDSA521 = 'ecdsa-sha2-nistp521 AAAAE2VjZHNhLXNoYTItbmlzdHA1MjEAAAAIbmlzdHA1MjEAAACFBABbBYBazPUg6uWbIkwJxWmIcXxtAqDVo7koDzrCuY0sWt+xPTmE2hSI4p62nKUIoDA6fIRQDHlZw/b//3hHJChhSAEdNP7ZFKW+z3h6x9Scvj8kCaw048dctG+TJUtQngVf4WYz+D5I79L1UWcOAsVQC7aW41sGO0KZf+y4VokyeFL2cQ==';
const ECDSA521_FP = 'SHA256:mlPMEM0eLzq66xiaDMaPIR5JYOyMGJKlXkE2xa4+9Ws';
const COMPOSE = 'services:\n  web:\n    image: nginx\n';

/** A stand-in for github.com: `/<user>.keys` from `served`, 404 for anyone else, no answer at all for `silent`. */
let github: Server;
let githubUrl: string;
const served = new Map<string, string>();
const held = new Set<Socket>();

let env: TestEnv;
let other: { apiKey: string };

before(async () => {
  github = createServer((req, res) => {
    const user = /^\/([^/]+)\.keys$/.exec(req.url ?? '')?.[1];
    if (user === 'silent') return; // accepts, never answers
    const keys = user ? served.get(user) : undefined;
    if (keys === undefined) return void res.writeHead(404, { 'content-type': 'text/plain' }).end('Not Found');
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end(keys);
  });
  github.on('connection', (s) => {
    held.add(s);
    s.on('close', () => held.delete(s));
  });
  await new Promise<void>((r) => github.listen(0, '127.0.0.1', r));
  githubUrl = `http://127.0.0.1:${(github.address() as AddressInfo).port}`;
  env = await startTestEnv({ config: { githubUrl } });
  other = await env.server.services.auth.createWorkspace('ssh-keys-other');
});
after(async () => {
  for (const s of held) s.destroy();
  if (github.listening) await new Promise((r) => github.close(r));
  await env?.close();
});

const sdk = (apiKey = env.apiKey) => createClient({ apiKey, baseURL: env.apiUrl });

async function sdkError(p: Promise<unknown>) {
  try {
    await p;
  } catch (e) {
    const err = e as ResourceError & { status?: number };
    return {
      status: err.status,
      errorCode: err instanceof ResourceError ? err.errorCode : undefined,
      message: err.message,
      fields: (err.structuredDetails ?? []).map((d) => d.field),
    };
  }
  assert.fail('the request succeeded');
}

test('add, list and delete a key; the fingerprint is the one ssh-keygen prints', async () => {
  const c = sdk();
  assert.deepEqual(await c.listSshKeys(), []);
  const key = await c.createSshKey({ name: 'laptop', public_key: `  ${ED25519}\n` });
  assert.match(key.id, /^sshkey_[0-9a-f]{20}$/);
  assert.equal(key.name, 'laptop');
  assert.equal(key.public_key, ED25519);
  assert.equal(key.fingerprint, ED25519_FP);
  assert.equal(key.key_type, 'ssh-ed25519');
  assert.equal(key.source, 'manual');
  const me = await c.getCurrentUser();
  assert.ok(me);
  const ecdsa = await c.createSshKey({ name: 'no comment', public_key: ECDSA521 });
  assert.equal(ecdsa.fingerprint, ECDSA521_FP);
  assert.equal(ecdsa.key_type, 'ecdsa-sha2-nistp521');
  assert.deepEqual((await c.listSshKeys()).map((k) => k.id), [key.id, ecdsa.id]);

  await c.deleteSshKey({ keyId: ecdsa.id });
  assert.deepEqual((await c.listSshKeys()).map((k) => k.id), [key.id]);
  // gone already: 404, nothing else changes
  assert.deepEqual(await sdkError(c.deleteSshKey({ keyId: ecdsa.id })), {
    status: 404, errorCode: 'ERR-10-001', fields: [],
    message: `SSH key "${ecdsa.id}" was not found among your keys: list them with GET /user/ssh-keys (phala ssh-keys list).`,
  });
  await c.deleteSshKey({ keyId: key.id });
  assert.deepEqual(await c.listSshKeys(), []);
});

test('the same key twice is a 409 naming the key the caller has; garbage is a 422 naming public_key', async () => {
  const c = sdk();
  const key = await c.createSshKey({ name: 'first', public_key: ECDSA });
  // the same blob with another comment is the same key
  const dup = await sdkError(c.createSshKey({ name: 'second', public_key: ECDSA.replace('vec-ecdsab256@opencvm', 'other comment') }));
  assert.equal(dup.status, 409);
  assert.equal(dup.errorCode, 'ERR-10-002');
  assert.match(dup.message, new RegExp(`${ECDSA_FP.replace(/[+/]/g, '\\$&')}.*"first".*${key.id}`));

  for (const [text, why] of [
    ['not a key', /"not" is not a key type/],
    ['ssh-ed25519 !!!', /not base64/],
    [`ssh-rsa ${ED25519.split(' ')[1]}`, /"ssh-ed25519" key, not the "ssh-rsa"/],
    ['-----BEGIN OPENSSH PRIVATE KEY-----', /PEM block/],
  ] as const) {
    const e = await sdkError(c.createSshKey({ name: 'bad', public_key: text }));
    assert.equal(e.status, 422, text);
    assert.equal(e.errorCode, 'ERR-02-008');
    assert.deepEqual(e.fields, ['public_key']);
    assert.match(e.message, why);
    assert.match(e.message, /Send an OpenSSH public key on one line, "<type> <base64> \[comment\]"/);
  }
  assert.deepEqual((await c.listSshKeys()).map((k) => k.id), [key.id], 'nothing refused was stored');
  await c.deleteSshKey({ keyId: key.id });
});

test("keys are the caller's user's: another user neither sees nor deletes them, and may add the same key", async () => {
  const mine = await sdk().createSshKey({ name: 'mine', public_key: ED25519 });
  const theirs = sdk(other.apiKey);
  assert.deepEqual(await theirs.listSshKeys(), []);
  const e = await sdkError(theirs.deleteSshKey({ keyId: mine.id }));
  assert.equal(e.status, 404);
  assert.equal(e.errorCode, 'ERR-10-001');
  assert.deepEqual((await sdk().listSshKeys()).map((k) => k.id), [mine.id], 'still there');
  const same = await theirs.createSshKey({ name: 'same key, other user', public_key: ED25519 });
  assert.notEqual(same.user_id, mine.user_id);
  assert.equal(same.fingerprint, mine.fingerprint);
  assert.deepEqual(await sdkError(sdk().deleteSshKey({ keyId: same.id })).then((x) => x.status), 404);
  await theirs.deleteSshKey({ keyId: same.id });
  await sdk().deleteSshKey({ keyId: mine.id });
});

test('a CVM deployed after gets the keys in its user_config and its guest; keys added later do not change it', async () => {
  const c = sdk();
  const a = await c.createSshKey({ name: 'a', public_key: ED25519 });
  const b = await c.createSshKey({ name: 'b', public_key: ECDSA });
  const vm = await deployRunning(env, 'ssh-keys-first', COMPOSE);
  const config = await getCvmUserConfig(c, { id: vm.vm_uuid! });
  assert.deepEqual(config.ssh_authorized_keys, [ED25519, ECDSA]);
  const guest = () => env.sim.listVms().find((v) => cvmNameOf(v.name) === 'ssh-keys-first')!;
  assert.deepEqual(guest().guest.sshAuthorizedKeys, [ED25519, ECDSA], 'the simulated guest got them');
  const hostConfig = JSON.parse(guest().configuration.user_config) as { ssh_authorized_keys: string[] };
  assert.deepEqual(hostConfig.ssh_authorized_keys, [ED25519, ECDSA], "CreateVm's user_config carried them");

  // later changes reach the next deploy, not this CVM
  await c.deleteSshKey({ keyId: a.id });
  const d = await c.createSshKey({ name: 'd', public_key: ECDSA384 });
  assert.deepEqual((await getCvmUserConfig(c, { id: vm.vm_uuid! })).ssh_authorized_keys, [ED25519, ECDSA]);
  assert.deepEqual(guest().guest.sshAuthorizedKeys, [ED25519, ECDSA]);
  const next = await deployRunning(env, 'ssh-keys-second', COMPOSE);
  assert.deepEqual((await getCvmUserConfig(c, { id: next.vm_uuid! })).ssh_authorized_keys, [ECDSA, ECDSA384]);
  const second = await waitFor(() => env.sim.listVms().find((v) => cvmNameOf(v.name) === 'ssh-keys-second') ?? null, 5000);
  assert.deepEqual(second.guest.sshAuthorizedKeys, [ECDSA, ECDSA384]);

  // another user's deploy carries none of them
  const o = sdk(other.apiKey);
  const p = await o.provisionCvm({ name: 'ssh-keys-other-user', compose_file: { docker_compose_file: COMPOSE } });
  const ovm = await o.commitCvmProvision({ app_id: p.app_id!, compose_hash: p.compose_hash });
  assert.deepEqual((await getCvmUserConfig(o, { id: ovm.vm_uuid! })).ssh_authorized_keys, []);
  for (const k of [b, d]) await c.deleteSshKey({ keyId: k.id });
});

test("the provision's own ssh_authorized_keys join the user's; an invalid one is a 422 naming it", async () => {
  const c = sdk();
  const k = await c.createSshKey({ name: 'stored', public_key: ED25519 });
  const p = await c.provisionCvm({ name: 'ssh-keys-provision', compose_file: { docker_compose_file: COMPOSE }, ssh_authorized_keys: [ECDSA] } as never);
  const vm = await c.commitCvmProvision({ app_id: p.app_id!, compose_hash: p.compose_hash });
  assert.deepEqual((await getCvmUserConfig(c, { id: vm.vm_uuid! })).ssh_authorized_keys, [ECDSA, ED25519]);
  const e = await sdkError(c.provisionCvm({ name: 'ssh-keys-bad', compose_file: { docker_compose_file: COMPOSE }, ssh_authorized_keys: [ECDSA, 'nope'] } as never));
  assert.equal(e.status, 422);
  assert.deepEqual(e.fields, ['ssh_authorized_keys[1]']);
  await c.deleteSshKey({ keyId: k.id });
});

test('GitHub import: valid keys added (source github), invalid ones reported, known ones skipped; sync follows GitHub', async () => {
  const c = sdk();
  served.set('octo-cat', `${ED25519.split(' ').slice(0, 2).join(' ')}\nnot-a-key AAAA\n${ECDSA.split(' ').slice(0, 2).join(' ')}\n`);
  const r = await c.importGithubProfileSshKeys({ github_username: 'octo-cat' });
  assert.equal(r.github_username, 'octo-cat');
  assert.equal(r.keys_added, 2);
  assert.equal(r.keys_skipped, 0);
  assert.equal(r.errors.length, 1);
  assert.match(r.errors[0], /^key 2 is not a valid SSH public key: "not-a-key" is not a key type/);
  const listed = await c.listSshKeys();
  assert.deepEqual(listed.map((k) => [k.fingerprint, k.source, k.key_metadata]), [
    [ED25519_FP, 'github', { github_username: 'octo-cat' }],
    [ECDSA_FP, 'github', { github_username: 'octo-cat' }],
  ]);
  assert.ok(listed.every((k) => k.last_synced_at));
  assert.deepEqual(await c.importGithubProfileSshKeys({ github_username: 'octo-cat' }), { github_username: 'octo-cat', keys_added: 0, keys_skipped: 2, errors: r.errors });

  // GitHub now lists one of them and a new one
  served.set('octo-cat', `${ECDSA}\n${ECDSA384}\n`);
  assert.deepEqual(await c.syncGithubSshKeys(), { synced_count: 1, keys_added: 1, keys_updated: 1, keys_removed: 1, errors: [] });
  assert.deepEqual((await c.listSshKeys()).map((k) => k.fingerprint).sort(), [ECDSA_FP, (await keyFp(ECDSA384))].sort());

  const unknown = await sdkError(c.importGithubProfileSshKeys({ github_username: 'nobody-here' }));
  assert.deepEqual([unknown.status, unknown.errorCode], [400, 'ERR-10-004']);
  const bad = await sdkError(c.importGithubProfileSshKeys({ github_username: '../etc' }));
  assert.deepEqual([bad.status, bad.fields], [422, ['github_username']]);
  for (const k of await c.listSshKeys()) await c.deleteSshKey({ keyId: k.id });
  assert.deepEqual(await c.syncGithubSshKeys(), { synced_count: 0, keys_added: 0, keys_updated: 0, keys_removed: 0, errors: [] });
});

/** A key's fingerprint as the server computes it (checked against ssh-keygen above). */
async function keyFp(line: string) {
  const c = sdk(other.apiKey);
  const k = await c.createSshKey({ name: 'fp', public_key: line });
  await c.deleteSshKey({ keyId: k.id });
  return k.fingerprint;
}

test('GitHub that does not answer: the import fails with a clear 400 and adds nothing', async () => {
  const c = sdk();
  const silent = await sdkError(c.importGithubProfileSshKeys({ github_username: 'silent' }));
  assert.equal(silent.status, 400);
  assert.equal(silent.errorCode, 'ERR-10-003');
  assert.match(silent.message, /^GitHub could not be reached at http:\/\/127\.0\.0\.1:\d+ \(no answer within 3 s\)/);
  assert.match(silent.message, /Add the key with POST \/user\/ssh-keys \(phala ssh-keys add\) instead\./);
  assert.deepEqual(await c.listSshKeys(), []);
});

test('GitHub on a closed port: import and sync fail at once with the clear 400, nothing changed', async () => {
  const c = sdk();
  served.set('octo-cat', `${ED25519}\n`);
  assert.equal((await c.importGithubProfileSshKeys({ github_username: 'octo-cat' })).keys_added, 1);
  for (const s of held) s.destroy();
  await new Promise((r) => github.close(r));
  const e = await sdkError(c.importGithubProfileSshKeys({ github_username: 'octo-cat' }));
  assert.equal(e.status, 400);
  assert.equal(e.errorCode, 'ERR-10-003');
  assert.match(e.message, /^GitHub could not be reached at .* \(the connection failed: ECONNREFUSED\): this server's network may not reach GitHub\./);
  const s = await sdkError(c.syncGithubSshKeys());
  assert.deepEqual([s.status, s.errorCode], [400, 'ERR-10-003']);
  assert.deepEqual((await c.listSshKeys()).map((k) => k.fingerprint), [ED25519_FP], 'the sync removed nothing');
});
