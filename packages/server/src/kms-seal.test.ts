/**
 * The KMS root keys live in the database, sealed with the seal key: servers with separate data dirs and the
 * same seal key derive the same app keys; a server whose seal key cannot open them refuses to start (and
 * writes nothing); the root key file of an earlier version is imported on the first start. PostgreSQL only:
 * several servers share one database.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deriveAppEnvKeyPair, generateRootKeys, toHex } from '@opencvm/core';
import { ConfigError } from './config.ts';
import { emptyTestDatabase } from './testing/databases.ts';
import { startReplica, type Replica } from './testing/replicas.ts';

const APP = 'c0ffee00000000000000000000000000000000aa';

const open: Replica[] = [];
const dirs: string[] = [];
after(async () => {
  for (const r of open) await r.close().catch(() => {});
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function replica(databaseUrl: string, opts: { sealKey?: Buffer; dataDir?: string } = {}) {
  const r = await startReplica({ databaseUrl, apiKey: 'phak_seal_test_key', simulatedHost: false, ...opts });
  open.push(r);
  return r;
}

const storedSeal = async (r: Replica) =>
  (await r.server.db.query<{ value: string }>(`SELECT value FROM server_secrets WHERE name = 'kms_root_keys'`)).map((x) => x.value);

test(`servers with separate data dirs and one seal key, started together on a new database, derive the same app keys`, async () => {
  const databaseUrl = (await emptyTestDatabase()).url;
  const sealKey = randomBytes(32);
  const [a, b, c] = await Promise.all([replica(databaseUrl, { sealKey }), replica(databaseUrl, { sealKey }), replica(databaseUrl, { sealKey })]);
  const pubkeys = [a, b, c].map((r) => r.server.services.kms.envPublicKey(APP));
  assert.match(pubkeys[0], /^[0-9a-f]{64}$/);
  assert.deepEqual(pubkeys, [pubkeys[0], pubkeys[0], pubkeys[0]]);
  assert.deepEqual([b, c].map((r) => r.server.services.kms.k256Pubkey), [a.server.services.kms.k256Pubkey, a.server.services.kms.k256Pubkey]);
  assert.equal((await storedSeal(a)).length, 1, 'one set of root keys');
  // a restart keeps them
  await b.restart();
  assert.equal(b.server.services.kms.envPublicKey(APP), pubkeys[0]);
});

test(`a server whose seal key cannot open the stored root keys refuses to start, saying which variable to set`, async () => {
  const databaseUrl = (await emptyTestDatabase()).url;
  // the first server: no OPENCVM_SEAL_KEY, so its seal key is generated into its data dir
  const first = await replica(databaseUrl);
  const sealFile = join(first.dataDir, 'seal-key');
  assert.match(readFileSync(sealFile, 'utf8'), /^[0-9a-f]{64}\n$/);
  const before = await storedSeal(first);

  // another data dir generates another seal key; a configured wrong one is refused the same way
  for (const sealKey of [undefined, randomBytes(32)]) {
    await assert.rejects(replica(databaseUrl, { sealKey }), (e: unknown) => {
      assert.ok(e instanceof ConfigError, String(e));
      assert.match(e.message, /KMS root keys in the database were sealed with another seal key: set OPENCVM_SEAL_KEY/);
      return true;
    });
  }
  assert.deepEqual(await storedSeal(first), before, 'no new root keys were written');

  // the seal key of the first server, given as OPENCVM_SEAL_KEY, opens them
  const second = await replica(databaseUrl, { sealKey: Buffer.from(readFileSync(sealFile, 'utf8').trim(), 'hex') });
  assert.equal(second.server.services.kms.envPublicKey(APP), first.server.services.kms.envPublicKey(APP));
});

test(`the root key file of an earlier version is imported on the first start, so its apps keep their keys`, async () => {
  const databaseUrl = (await emptyTestDatabase()).url;
  const legacy = generateRootKeys();
  const dataDir = mkdtempSync(join(tmpdir(), 'opencvm-legacy-'));
  dirs.push(dataDir);
  mkdirSync(join(dataDir, 'kms'), { mode: 0o700 });
  writeFileSync(join(dataDir, 'kms', 'root-keys.json'), JSON.stringify({ ca_scalar: toHex(legacy.caScalar), k256: toHex(legacy.k256) }), { mode: 0o600 });
  const expected = toHex(deriveAppEnvKeyPair(legacy.caScalar, APP).publicKey);

  const sealKey = randomBytes(32);
  const old = await replica(databaseUrl, { sealKey, dataDir });
  assert.equal(old.server.services.kms.envPublicKey(APP), expected, 'the imported keys derive the app key the file did');
  const other = await replica(databaseUrl, { sealKey });
  assert.equal(other.server.services.kms.envPublicKey(APP), expected, 'a replica with a fresh data dir gets the same keys');
  assert.ok(!(await storedSeal(old))[0].includes(toHex(legacy.caScalar)), 'stored sealed, not in the clear');

  // a root key file that is not what the database holds would change its apps' keys: refused
  const otherDir = mkdtempSync(join(tmpdir(), 'opencvm-legacy-'));
  dirs.push(otherDir);
  mkdirSync(join(otherDir, 'kms'));
  const stray = generateRootKeys();
  writeFileSync(join(otherDir, 'kms', 'root-keys.json'), JSON.stringify({ ca_scalar: toHex(stray.caScalar), k256: toHex(stray.k256) }));
  await assert.rejects(replica(databaseUrl, { sealKey, dataDir: otherDir }), /root-keys\.json are not those in the database/);
});
