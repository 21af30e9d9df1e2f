/**
 * The official `phala` CLI's `ssh-keys list|add|remove|import-github` against a server whose GitHub URL is a
 * closed port (a network that cannot reach GitHub).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { makeCli } from './testing/cli.ts';
import { startTestEnv, type TestEnv } from './testing/harness.ts';

const ED25519 = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGVt3pYWqWfNqTp1Mnia0USr+3nl2xBwEP8qMteYF+gn vec-ed25519@opencvm';
const ED25519_FP = 'SHA256:YC6QoWZuyuEERU/YIInUEEOBwkhmuY/z1y7iGRLdTuI';

/** A port nothing listens on: taken from the system, then released. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

/** The keys `ssh-keys list --json` prints: the CLI spreads the list into `{"0": key, "1": key, …, "success": true}`. */
function jsonKeys(stdout: string): { id: string; name: string; fingerprint: string }[] {
  const out = JSON.parse(stdout.slice(stdout.indexOf('{'))) as Record<string, unknown>;
  assert.equal(out.success, true, stdout);
  return Object.keys(out).filter((k) => /^\d+$/.test(k)).sort((a, b) => Number(a) - Number(b)).map((k) => out[k] as { id: string; name: string; fingerprint: string });
}

let env: TestEnv;
before(async () => {
  env = await startTestEnv({ config: { githubUrl: `http://127.0.0.1:${await closedPort()}` } });
});
after(async () => {
  await env?.close();
});

test('phala ssh-keys add, list and remove exit 0 and do what they say', async () => {
  const cli = makeCli(env.apiUrl, env.apiKey);
  const empty = await cli.run(['ssh-keys', 'list']);
  assert.equal(empty.code, 0, empty.stdout + empty.stderr);
  assert.match(empty.stdout + empty.stderr, /No SSH keys found/);

  const file = join(cli.home, 'laptop.pub');
  writeFileSync(file, `${ED25519}\n`);
  const add = await cli.run(['ssh-keys', 'add', '--name', 'laptop', '--key-file', file]);
  assert.equal(add.code, 0, add.stdout + add.stderr);
  assert.match(add.stdout + add.stderr, new RegExp(`Added SSH key "laptop" \\(ssh-ed25519, ${ED25519_FP.replace(/[+/]/g, '\\$&')}\\)`));

  const again = await cli.run(['ssh-keys', 'add', '--name', 'twice', '--key-file', file]);
  assert.notEqual(again.code, 0, 'the same key twice is refused');
  assert.match(again.stdout + again.stderr, /You have added this key already/);

  const list = await cli.run(['ssh-keys', 'list', '--json']);
  assert.equal(list.code, 0, list.stdout + list.stderr);
  const keys = jsonKeys(list.stdout);
  assert.deepEqual(keys.map((k) => [k.name, k.fingerprint]), [['laptop', ED25519_FP]]);
  const table = await cli.run(['ssh-keys', 'list']);
  assert.equal(table.code, 0, table.stdout + table.stderr);
  assert.match(table.stdout, new RegExp(keys[0].id));

  const remove = await cli.run(['ssh-keys', 'remove', keys[0].id]);
  assert.equal(remove.code, 0, remove.stdout + remove.stderr);
  assert.match(remove.stdout + remove.stderr, new RegExp(`SSH key ${keys[0].id} removed`));
  const after = await cli.run(['ssh-keys', 'list', '--json']);
  assert.equal(after.code, 0, after.stdout + after.stderr);
  assert.deepEqual(jsonKeys(after.stdout), []);
});

test('phala ssh-keys import-github fails at once with the message to add the key instead', async () => {
  const cli = makeCli(env.apiUrl, env.apiKey);
  const r = await cli.run(['ssh-keys', 'import-github', 'octocat'], { timeoutMs: 30_000 });
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout + r.stderr, /Failed to import SSH keys: GitHub could not be reached at http:\/\/127\.0\.0\.1:\d+ \(the connection failed: ECONNREFUSED\)/);
  assert.match(r.stdout + r.stderr, /Add the key with POST \/user\/ssh-keys \(phala ssh-keys add\) instead/);
});
