/**
 * Three servers on one PostgreSQL database with one simulated host in a process of its own, configured as
 * README "Running several replicas" says (OPENCVM_HOSTS naming that host, no simulated host of their own,
 * one seal key, a data dir and port each). Deploys with a sealed env and lifecycle calls go round-robin
 * through all three while one of them restarts: every CVM boots (its guest decrypted its env: a guest that
 * cannot reports `failed to decrypt env` as its boot error), each has one VM on the host (no create ran
 * twice), no operation failed, no answer was a 5xx. Servers started together on a new database all come
 * up, every time; and two servers each running its own simulated host refuse that loudly.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createClient, encryptEnvVars } from '@phala/cloud';
import { ConfigError } from './config.ts';
import { VmmClient } from './hosts/vmm-client.ts';
import { cvmNameOf } from './services/host-vm-names.ts';
import { emptyTestDatabase } from './testing/databases.ts';
import { startFailoverProxy, startReplica, startSimProcess, type Replica, type SimProcess } from './testing/replicas.ts';
import { waitFor } from './testing/wait.ts';


const COMPOSE = 'services:\n  web:\n    image: nginx\n    environment:\n      - SECRET=${SECRET}\n';
const apiKey = `phak_replicas_${randomBytes(16).toString('hex')}`;

let sim: SimProcess;
let proxy: Awaited<ReturnType<typeof startFailoverProxy>>;
const started: Replica[] = [];
before(async () => {
  sim = await startSimProcess({ bootMs: 300, shutdownMs: 100 });
  proxy = await startFailoverProxy();
});
after(async () => {
  for (const r of started) await r.close().catch(() => {});
  await proxy?.close();
  await sim?.close();
});

async function replicaSet(databaseUrl: string, n: number, opts: { apiKey?: string; publicUrl?: string } = {}) {
  const sealKey = randomBytes(32);
  const results = await Promise.allSettled(
    Array.from({ length: n }, () => startReplica({ databaseUrl, sealKey, hosts: sim.hostsEntry, simulatedHost: false, ...opts })),
  );
  const set = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  started.push(...set);
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
  return set;
}

const client = (r: Replica) => createClient({ apiKey, baseURL: r.apiUrl });

function checkAnswers(set: Replica[]) {
  assert.deepEqual(set.flatMap((r) => r.serverErrors), [], 'no 5xx');
  assert.deepEqual(set.flatMap((r) => r.violations), [], 'every answer matches the contract');
}

test(`three replicas, one host: deploys and lifecycle calls round-robin while one restarts`, { timeout: 240_000 }, async () => {
  const databaseUrl = (await emptyTestDatabase()).url;
  // the guests ask for their keys at one URL, as behind a load balancer: whichever replica answers
  const set = await replicaSet(databaseUrl, 3, { apiKey, publicUrl: proxy.url });
  proxy.backends.push(...set.map((r) => r.server.url));
  const at = (i: number) => client(set[i % set.length]);

  const N = 9;
  const cvms: { name: string; vm_uuid: string }[] = [];
  for (let i = 0; i < N; i++) {
    const name = `replica-app-${i}`;
    // provisioned at one replica, sealed to the key it answered, committed at the next
    const p = await at(i).provisionCvm({ name, compose_file: { docker_compose_file: COMPOSE, allowed_envs: ['SECRET'] } });
    const encrypted = await encryptEnvVars([{ key: 'SECRET', value: `secret-${i}` }], p.app_env_encrypt_pubkey!);
    const vm = await at(i + 1).commitCvmProvision({ app_id: p.app_id!, compose_hash: p.compose_hash, encrypted_env: encrypted, env_keys: ['SECRET'] });
    cvms.push({ name, vm_uuid: vm.vm_uuid! });
    // one replica restarts while the first creates are under way
    if (i === 4) await set[1].restart();
  }

  const settled = (status: string) =>
    Promise.all(
      cvms.map((c, i) =>
        waitFor(async () => {
          const info = await at(i + 2).getCvmInfo({ id: c.vm_uuid });
          return info.status === status && !info.progress ? info : null;
        }, 60_000),
      ),
    );
  await settled('running');

  // lifecycle calls, each through another replica; another restart in the middle
  for (let i = 0; i < N; i++) {
    const id = cvms[i].vm_uuid;
    if (i % 2 === 0) await at(i).restartCvm({ id });
    else await at(i).stopCvm({ id });
    if (i === 4) await set[2].restart();
  }
  await Promise.all(
    cvms.map((c, i) =>
      waitFor(async () => {
        const info = await at(i + 1).getCvmInfo({ id: c.vm_uuid });
        return info.status === (i % 2 === 0 ? 'running' : 'stopped') && !info.progress ? info : null;
      }, 60_000),
    ),
  );
  for (let i = 1; i < N; i += 2) await at(i + 2).startCvm({ id: cvms[i].vm_uuid });
  const infos = await settled('running');
  assert.deepEqual(infos.map((x) => x.status), cvms.map(() => 'running'));

  // the host: one VM per CVM, each booted with its env decrypted
  const vms = await new VmmClient(sim.url).status();
  for (const c of cvms) {
    const mine = vms.filter((v) => cvmNameOf(v.name) === c.name);
    assert.equal(mine.length, 1, `${c.name} has one VM on the host (a create that ran twice would leave two)`);
    assert.equal(mine[0].status, 'running', c.name);
    assert.equal(mine[0].boot_progress, 'done', c.name);
    assert.equal(mine[0].boot_error, '', `${c.name} booted: its guest got its keys and decrypted its env`);
  }
  const db = set[0].server.db;
  const [ops] = await db.query<{ failed: number; active: number; total: number }>(
    `SELECT count(*) FILTER (WHERE state = 'failed')::int AS failed, count(*) FILTER (WHERE state IN ('pending', 'running'))::int AS active,
            count(*)::int AS total FROM operations`,
  );
  assert.deepEqual(ops, { failed: 0, active: 0, total: N + N + Math.floor(N / 2) }, 'every operation succeeded, one per call');
  checkAnswers(set);
});

test(`three replicas started together on a new database all come up, every time`, { timeout: 240_000 }, async () => {
  for (let round = 0; round < 10; round++) {
    const databaseUrl = (await emptyTestDatabase()).url;
    // no OPENCVM_API_KEY: exactly one of them generates the bootstrap key
    const set = await replicaSet(databaseUrl, 3);
    const generated = set.map((r) => r.server.generatedApiKey).filter(Boolean) as string[];
    assert.equal(generated.length, 1, `round ${round}: one bootstrap key is generated`);
    const db = set[0].server.db;
    const [counts] = await db.query<{ workspaces: number; keys: number; nodes: number; kms: number }>(
      `SELECT (SELECT count(*)::int FROM workspaces) AS workspaces, (SELECT count(*)::int FROM api_keys) AS keys,
              (SELECT count(*)::int FROM nodes) AS nodes, (SELECT count(*)::int FROM kms_instances) AS kms`,
    );
    assert.deepEqual(counts, { workspaces: 1, keys: 1, nodes: 1, kms: 1 }, `round ${round}`);
    const app = 'ab'.repeat(20);
    assert.equal(new Set(set.map((r) => r.server.services.kms.envPublicKey(app))).size, 1, `round ${round}: one set of KMS root keys`);
    for (const r of set) {
      const me = await createClient({ apiKey: generated[0], baseURL: r.apiUrl }).getCurrentUser();
      assert.ok(me, 'the key works at every replica');
    }
    checkAnswers(set);
    for (const r of set) {
      await r.close();
      started.splice(started.indexOf(r), 1);
    }
  }
});

test(`two servers on one database each running its own simulated host: the second refuses to start, saying what to configure`, { timeout: 60_000 }, async () => {
  const databaseUrl = (await emptyTestDatabase()).url;
  const sealKey = randomBytes(32);
  // the default configuration: no OPENCVM_HOSTS, so each runs a simulated host named sim-1
  const first = await startReplica({ databaseUrl, sealKey, apiKey });
  started.push(first);
  assert.ok(first.server.sim, 'the first runs its simulated host');
  await assert.rejects(startReplica({ databaseUrl, sealKey, apiKey }), (e: unknown) => {
    assert.ok(e instanceof ConfigError, String(e));
    assert.match(e.message, /host name "sim-1" is registered at http:\/\/127\.0\.0\.1:\d+, which still answers/);
    assert.match(e.message, /OPENCVM_HOSTS=.*OPENCVM_SIMULATED_HOST=0/);
    return true;
  });
  const [node] = await first.server.db.query<{ url: string }>(`SELECT url FROM nodes WHERE name = 'sim-1'`);
  assert.equal(node.url, first.server.sim!.url, 'the node still points at the first host');
  // once the first server (and its host) is gone, a server may register the name at its own host
  await first.close();
  started.splice(started.indexOf(first), 1);
  const second = await startReplica({ databaseUrl, sealKey, apiKey });
  started.push(second);
  const [moved] = await second.server.db.query<{ url: string }>(`SELECT url FROM nodes WHERE name = 'sim-1'`);
  assert.equal(moved.url, second.server.sim!.url);
});
