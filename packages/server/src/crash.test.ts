/**
 * kill -9 of the server during a batch of deploys, as an operator would run opencvm: the simulated host in
 * its own process (packages/vmm-sim/src/main.ts, whose CreateVm answers a while after the VM exists, as a
 * slow host does), PostgreSQL, and the server as a child process (packages/server/src/main.ts) on a fixed
 * port (its VMs were told that KMS URL). The server is killed with SIGKILL three times while deploys are in
 * flight — the second and third time right after the host created a VM whose id the server has not recorded
 * yet — and started again each time. Once settled: every acknowledged deploy runs, the host has exactly one
 * VM per CVM and none that belongs to no CVM, and no operation is left pending or running.
 *
 * The orphan grace period is long here on purpose: the reconciler would remove a duplicate VM after it, so a
 * short one could hide a create that was repeated. No VM may have needed removing (`host_events` is empty).
 *
 * Database: a fresh database on the test run's PostgreSQL.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { createClient } from '@phala/cloud';
import { freshTestDatabase } from './testing/databases.ts';
import { VmmClient } from './hosts/vmm-client.ts';
import { parseHostVmName } from './services/host-vm-names.ts';
import { waitFor } from './testing/wait.ts';
import { killHard, runScript, startServerProcess } from './testing/process.ts';
import { freePort } from './db/embedded.ts';

const COMPOSE = 'services:\n  web:\n    image: nginx\n';
const WAVE = 7;

let dropDatabase: (() => Promise<void>) | undefined;
let databaseUrl: string;
let dataDir: string;
let sim: ChildProcess;
let simUrl: string;
let server: ChildProcess | undefined;
let serverLog: string[] = [];
let port: number;
const apiKey = `phak_crash_${randomBytes(18).toString('base64url')}`;
const kmsToken = randomBytes(18).toString('base64url');
let db: pg.Pool;

const api = () => `http://127.0.0.1:${port}/api/v1`;
const client = () => createClient({ apiKey, baseURL: api() });


async function startSim(): Promise<void> {
  const log: string[] = [];
  sim = runScript('packages/vmm-sim/src/main.ts', {
    VMM_SIM_PORT: '0',
    VMM_SIM_NAME: 'sim-crash',
    VMM_SIM_BOOT_MS: '400',
    VMM_SIM_SHUTDOWN_MS: '100',
    // the window between the host creating a VM and the server learning its id
    VMM_SIM_CREATE_DELAY_MS: '1500',
    VMM_SIM_KMS_TOKEN: kmsToken,
  }, log);
  simUrl = await waitFor(() => log.find((l) => l.startsWith('http://')) ?? null, 30_000);
}

async function startServer(): Promise<void> {
  serverLog = [];
  server = await startServerProcess({
    PORT: String(port),
    HOST: '127.0.0.1',
    DATABASE_URL: databaseUrl,
    OPENCVM_DATA_DIR: dataDir,
    OPENCVM_API_KEY: apiKey,
    OPENCVM_HOSTS: `sim-crash=${simUrl}##${kmsToken}`,
    OPENCVM_SIMULATED_HOST: '0',
    OPENCVM_RECONCILE_MS: '200',
    OPENCVM_ORPHAN_GRACE_MS: '600000',
    LOG_LEVEL: 'warn',
  }, { readyUrl: `${api()}/instance-types`, apiKey, log: serverLog, timeoutMs: 45_000 });
}

const kill = () => killHard(server!);

before(async () => {
  const fresh = await freshTestDatabase();
  databaseUrl = fresh.url;
  dropDatabase = fresh.drop;
  db = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  dataDir = mkdtempSync(join(tmpdir(), 'opencvm-crash-'));
  port = await freePort();
  await startSim();
});

after(async () => {
  if (server) await kill();
  if (sim && sim.exitCode === null) sim.kill('SIGTERM');
  await db?.end();
  await dropDatabase?.();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

interface Deploy {
  name: string;
  /** the commit's answer, if it came (an acknowledged deploy) */
  vmUuid?: string;
}

/** Provision and commit each name, all at once; a request the killed server never answered leaves the deploy unacknowledged. */
function deployWave(prefix: string): { deploys: Deploy[]; done: Promise<void> } {
  const deploys: Deploy[] = Array.from({ length: WAVE }, (_, i) => ({ name: `${prefix}-${i}` }));
  const done = Promise.all(
    deploys.map(async (d) => {
      try {
        const c = client();
        const p = await c.provisionCvm({ name: d.name, vcpu: 1, memory: 512, compose_file: { docker_compose_file: COMPOSE } });
        const vm = await c.commitCvmProvision({ app_id: p.app_id!, compose_hash: p.compose_hash });
        d.vmUuid = vm.vm_uuid!;
      } catch {
        /* the server died under it: not acknowledged */
      }
    }),
  ).then(() => {});
  return { deploys, done };
}

/**
 * True once the host has a VM for a CVM that does not record it yet: the server is between CreateVm and
 * recording the VM's id.
 */
async function createInFlight(): Promise<boolean> {
  const vms = await new VmmClient(simUrl).status({ brief: true });
  const labelled = vms.flatMap((v) => {
    const l = parseHostVmName(v.name);
    return l ? [{ id: v.id, vmUuid: l.vmUuid }] : [];
  });
  if (!labelled.length) return false;
  const { rows } = await db.query<{ vm_uuid: string; host_vm_id: string | null }>(
    'SELECT vm_uuid::text, host_vm_id FROM cvms WHERE vm_uuid = ANY($1::uuid[])',
    [labelled.map((l) => l.vmUuid)],
  );
  const recorded = new Set(rows.map((r) => r.host_vm_id));
  return labelled.some((l) => !recorded.has(l.id));
}

test('kill -9 of the server during deploys: once settled, every acknowledged deploy runs, one VM per CVM on the host, no orphan, nothing stuck', async (t) => {
  const all: Deploy[] = [];
  let killsInCreateWindow = 0;

  await startServer();

  // 1: while the first deploys are being committed and their creates start
  const w1 = deployWave('crash-a');
  all.push(...w1.deploys);
  await waitFor(() => (w1.deploys.filter((d) => d.vmUuid).length >= 2 ? true : null), 30_000, 10);
  await kill();
  await w1.done;

  // 2 and 3: right after the host created a VM whose id the server has not recorded
  for (const prefix of ['crash-b', 'crash-c']) {
    await startServer();
    const w = deployWave(prefix);
    all.push(...w.deploys);
    // the commits are answered at once; their creates are still waiting for the host's answer
    await w.done;
    const inWindow = await waitFor(async () => ((await createInFlight()) ? true : null), 10_000, 20).catch(() => false);
    if (inWindow) killsInCreateWindow += 1;
    await kill();
  }
  assert.ok(killsInCreateWindow >= 1, 'at least one kill must land between CreateVm and the VM id being recorded');

  await startServer();
  const acknowledged = all.filter((d) => d.vmUuid);
  assert.ok(acknowledged.length >= 3, `some deploys were acknowledged (${acknowledged.length})`);
  t.diagnostic(`${all.length} deploys, ${acknowledged.length} acknowledged; ${killsInCreateWindow} of 2 targeted kills landed between CreateVm and the VM id being recorded`);

  // settled: no operation pending or running
  await waitFor(async () => {
    const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM operations WHERE state IN ('pending', 'running')`);
    return rows[0].n === 0 ? true : null;
  }, 90_000, 200).catch((e) => {
    throw new Error(`${(e as Error).message}\nserver log:\n${serverLog.slice(-30).join('\n')}`);
  });

  const { rows: cvms } = await db.query<{ vm_uuid: string; name: string; status: string; host_vm_id: string | null }>(
    'SELECT vm_uuid::text, name, status, host_vm_id FROM cvms WHERE deleted_at IS NULL ORDER BY id',
  );
  const byUuid = new Map(cvms.map((c) => [c.vm_uuid, c]));

  const vms = await new VmmClient(simUrl).status({ brief: true });
  const perCvm = new Map<string, string[]>();
  const unowned: string[] = [];
  for (const vm of vms) {
    const label = parseHostVmName(vm.name);
    const owner = label && byUuid.get(label.vmUuid);
    if (!owner || owner.host_vm_id !== vm.id) unowned.push(`${vm.id} (${vm.name}, ${vm.status})`);
    if (label) perCvm.set(label.vmUuid, [...(perCvm.get(label.vmUuid) ?? []), vm.id]);
  }
  const notOne = cvms.filter((c) => (perCvm.get(c.vm_uuid) ?? []).length !== 1).map((c) => `${c.name}: ${(perCvm.get(c.vm_uuid) ?? []).length} VMs`);
  assert.deepEqual(notOne, [], 'exactly one VM per CVM on the host');
  assert.deepEqual(unowned, [], 'no VM on the host that no CVM owns');
  assert.equal(vms.length, cvms.length);

  for (const d of acknowledged) {
    assert.equal(byUuid.get(d.vmUuid!)?.status, 'running', `acknowledged deploy ${d.name} runs`);
  }
  // deploys committed by a server killed before it answered are CVMs too: they boot like the others
  assert.deepEqual(cvms.filter((c) => c.status !== 'running').map((c) => `${c.name}: ${c.status}`), [], 'every CVM runs');

  const { rows: events } = await db.query('SELECT host_vm_id, reason FROM host_events');
  assert.deepEqual(events, [], 'no VM had to be removed as an orphan: none was created twice');
});
