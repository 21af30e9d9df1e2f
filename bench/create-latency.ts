/**
 * Part e of `npm run bench`: commit → `CreateVm` reaching the host, the control plane's time.
 *
 * The server (this process, its worker running) and a simulated dstack host (its own process, as a host is
 * another machine) on one machine, so both read the same clock: the client takes
 * `performance.timeOrigin + performance.now()` just before it sends `POST /cvms` (the commit), the simulated
 * host takes the same when a `CreateVm` request arrives (`GET /sim/calls?method=CreateVm`, each call with the
 * VM name, which carries the CVM's vm_uuid). The difference is the control plane's time for that CVM: the
 * commit's HTTP request and transaction, waking the worker, its claim, the step recorded before the call, and
 * the call. `DEPLOYS` CVMs are provisioned first (not timed), then committed from a worker thread (as the rest
 * of the bench's load), after `WARMUP` deploys that are not counted: `RATE` commits per second sent on
 * schedule (an open loop, the CVMs committed before booting meanwhile, as on a server many users deploy to),
 * or, with `BENCH_CREATE_RATE=0`, `CONCURRENCY` clients in a closed loop (as fast as the machine allows: then
 * the figure is mostly the wait behind the boots in progress, the throughput part a measures).
 *
 * Baseline ("floor"), in the same run, on the same PostgreSQL and the same simulated host: a bare loop that
 * does the least such a path must — one INSERT (its own transaction) into a table, then `POST
 * /prpc/CreateVm?json` with the same VM configuration the server sent — timed the same way, at the same
 * rate (or concurrency). Target: the server's p99 ≤ 25 ms; the ratio to the floor is reported beside it.
 *
 * Alone: `BENCH_ONLY=create npm run bench` (on the embedded PostgreSQL unless BENCH_DB=postgres).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker as Thread } from 'node:worker_threads';
import { startServer } from '../packages/server/src/app.ts';
import { simulatedDeviceId } from '../packages/server/src/services/nodes.ts';
import { benchServerConfig, launchSim } from './sim-launch.ts';

export const DEPLOYS = Number(process.env.BENCH_CREATE_DEPLOYS ?? 200);
export const WARMUP = 20;
export const CONCURRENCY = Number(process.env.BENCH_CREATE_CONCURRENCY ?? 4);
/**
 * commits per second, sent open-loop (on schedule, whatever the answers), each CVM then booting while the next
 * commits arrive; 0: closed loop, `CONCURRENCY` clients each sending its next commit when its last is
 * answered (as fast as the machine allows, so the figure is mostly queueing behind the boots: part a's
 * throughput, not the path's time)
 */
export const RATE = Number(process.env.BENCH_CREATE_RATE ?? 20);
/** p99 of commit → CreateVm, ms */
export const CREATE_P99_TARGET_MS = 25;

const composeYaml = 'services:\n  app:\n    image: nginx:latest\n    ports:\n      - "80:80"\n';

export interface Latencies {
  /** ms, sorted */
  lat: number[];
  p50: number;
  p99: number;
  max: number;
}
export interface CreateLatencyResult {
  server: Latencies;
  /** of the server's: commit sent → its answer (the request path's share) */
  answer: Latencies;
  floor: Latencies;
  /** server p99 / floor p99 */
  ratio: number;
}

const now = () => performance.timeOrigin + performance.now();
const pct = (sorted: number[], p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] : 0);
const stats = (lat: number[]): Latencies => {
  const s = [...lat].sort((a, b) => a - b);
  return { lat: s, p50: pct(s, 0.5), p99: pct(s, 0.99), max: s[s.length - 1] ?? 0 };
};

// the client: provision every name (not timed), then commit them at a fixed concurrency, the time taken
// just before each commit is sent (plain CommonJS so the worker thread needs no loader)
const CLIENT = String.raw`
const { parentPort, workerData: t } = require('node:worker_threads');
const http = require('node:http');
const { performance } = require('node:perf_hooks');
const agent = new http.Agent({ keepAlive: true, maxSockets: t.concurrency });
function post(path, body) {
  return new Promise((resolve, reject) => {
    const text = JSON.stringify(body);
    const req = http.request(t.base + path, { method: 'POST', agent, headers: { ...t.headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const b = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== 200) reject(new Error('POST ' + path + ' ' + res.statusCode + ' ' + b.slice(0, 300)));
        else resolve(JSON.parse(b));
      });
      res.on('error', reject);
    });
    req.setTimeout(30000, () => req.destroy(new Error('POST ' + path + ' timed out')));
    req.on('error', reject);
    req.end(text);
  });
}
async function pool(items, fn) {
  let next = 0;
  await Promise.all(Array.from({ length: t.concurrency }, async () => { while (next < items.length) { const i = next++; await fn(items[i], i); } }));
}
(async () => {
  const provisions = new Array(t.names.length);
  await pool(t.names, async (name, i) => {
    provisions[i] = await post('/cvms/provision', { name, instance_type: 'tdx.small', compose_file: { docker_compose_file: t.compose } });
  });
  const sent = [];
  const commit = async (p) => {
    const at = performance.timeOrigin + performance.now();
    const vm = await post('/cvms', { app_id: p.app_id, compose_hash: p.compose_hash });
    sent.push({ vm_uuid: vm.vm_uuid, at, answered: performance.timeOrigin + performance.now() });
  };
  if (t.rate > 0) {
    // open loop: one commit every 1/rate s whatever the answers, as deploys arrive from many users
    const t0 = performance.now() + 20;
    await Promise.all(provisions.map(async (p, i) => {
      const wait = t0 + (i * 1000) / t.rate - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      await commit(p);
    }));
  } else await pool(provisions, commit);
  agent.destroy();
  return sent;
})().then((r) => parentPort.postMessage({ ok: true, r }), (e) => parentPort.postMessage({ ok: false, error: String((e && e.stack) || e) }));
`;

/** A commit the client sent: when, and when its answer came. */
interface Sent { vm_uuid: string; at: number; answered: number }

function commitFromThread(task: { base: string; headers: Record<string, string>; names: string[]; concurrency: number; rate: number; compose: string }): Promise<Sent[]> {
  return new Promise((resolve, reject) => {
    const t = new Thread(CLIENT, { eval: true, workerData: task });
    t.once('message', (m: { ok: boolean; r?: Sent[]; error?: string }) => {
      void t.terminate();
      if (m.ok) resolve(m.r!);
      else reject(new Error(`create-latency client: ${m.error}`));
    });
    t.once('error', reject);
  });
}

interface SimCall { method: string; name: string | null; at_ms: number }

async function createVmCalls(simUrl: string): Promise<SimCall[]> {
  const res = await fetch(`${simUrl}/sim/calls?method=CreateVm`);
  if (res.status !== 200) throw new Error(`GET /sim/calls answered ${res.status}`);
  return ((await res.json()) as { calls: SimCall[] }).calls;
}

/** `POST url` with a JSON body on a keep-alive agent; resolves with the status once the answer is read. */
function postJson(agent: Agent, url: string, body: unknown): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const text = JSON.stringify(body);
    const req = request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(text);
  });
}

/** One run of part e on the PostgreSQL `databaseUrl` names (the embedded one when undefined). */
export async function benchCreateLatency(databaseUrl: string | undefined, opts: { inProcessSim?: boolean; dbPool?: number } = {}): Promise<CreateLatencyResult> {
  const dataDir = mkdtempSync(join(tmpdir(), 'opencvm-bench-create-'));
  const kmsToken = randomBytes(24).toString('base64url');
  const apiKey = `phak_bench_${randomBytes(24).toString('base64url')}`;
  const sim = await launchSim(
    { name: 'latency-sim', bootMs: 100, shutdownMs: 50, kmsToken, deviceId: simulatedDeviceId('latency-sim'), resources: { maxCvms: 100_000, maxVcpu: 1e6, maxMemoryMb: 1e9, maxDiskGb: 1e9 } },
    opts.inProcessSim,
  );
  const config = benchServerConfig({ dataDir, databaseUrl, apiKey, host: { name: 'latency-sim', url: sim.url, kmsToken }, dbPool: opts.dbPool });
  const server = await startServer({ config, logger: process.env.BENCH_LOG === '1' });
  try {
    const base = server.apiUrl;
    const headers = { 'x-api-key': apiKey };
    const names = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${String(i).padStart(4, '0')}`);

    // the server: warm-up, then the measured commits; the boots they start finish before the floor runs
    await commitFromThread({ base, headers, names: names('lat-warm', WARMUP), concurrency: CONCURRENCY, rate: RATE, compose: composeYaml });
    await server.worker.idle(120_000);
    const sent = await commitFromThread({ base, headers, names: names('lat', DEPLOYS), concurrency: CONCURRENCY, rate: RATE, compose: composeYaml });
    await server.worker.idle(120_000);
    const arrivals = new Map<string, number>();
    for (const c of await createVmCalls(sim.url)) {
      const uuid = /\(opencvm \S+ (\S+)\)$/.exec(c.name ?? '')?.[1];
      if (uuid && !arrivals.has(uuid)) arrivals.set(uuid, c.at_ms);
    }
    const serverLat = sent.map((s) => {
      const at = arrivals.get(s.vm_uuid);
      if (at === undefined) throw new Error(`no CreateVm reached the host for CVM ${s.vm_uuid}`);
      return at - s.at;
    });

    // the floor: one INSERT, then CreateVm with the configuration the server sent, same concurrency
    const vms = (await (await fetch(`${sim.url}/sim/vms`)).json()) as { configuration: Record<string, unknown> }[];
    const template = vms[0]?.configuration;
    if (!template) throw new Error('the simulated host has no VM to take a configuration from');
    await server.db.query('CREATE TABLE IF NOT EXISTS bench_create_floor (id bigserial PRIMARY KEY, name text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())');
    const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    const floorOnce = async (name: string) => {
      const at = now();
      await server.db.query('INSERT INTO bench_create_floor (name) VALUES ($1)', [name]);
      const r = await postJson(agent, `${sim.url}/prpc/CreateVm?json`, { ...template, name, stopped: true });
      if (r.status !== 200) throw new Error(`floor CreateVm answered ${r.status}: ${r.text.slice(0, 300)}`);
      return at;
    };
    const floorRun = async (list: string[]) => {
      const started = new Map<string, number>();
      if (RATE > 0) {
        const t0 = performance.now() + 20;
        await Promise.all(list.map(async (name, i) => {
          const wait = t0 + (i * 1000) / RATE - performance.now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
          started.set(name, await floorOnce(name));
        }));
        return started;
      }
      let next = 0;
      await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
        while (next < list.length) {
          const name = list[next++];
          started.set(name, await floorOnce(name));
        }
      }));
      return started;
    };
    await floorRun(names('floor-warm', WARMUP));
    const floorSent = await floorRun(names('floor', DEPLOYS));
    agent.destroy();
    const floorArrivals = new Map((await createVmCalls(sim.url)).map((c) => [c.name ?? '', c.at_ms] as const));
    const floorLat = [...floorSent].map(([name, at]) => {
      const arrived = floorArrivals.get(name);
      if (arrived === undefined) throw new Error(`the floor's CreateVm for ${name} was not recorded by the host`);
      return arrived - at;
    });
    const s = stats(serverLat);
    const f = stats(floorLat);
    return { server: s, answer: stats(sent.map((x) => x.answered - x.at)), floor: f, ratio: s.p99 / f.p99 };
  } finally {
    await server.close();
    await sim.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

export function reportCreateLatency(r: CreateLatencyResult): void {
  const f1 = (n: number) => n.toFixed(1);
  const load = RATE > 0 ? `${RATE} commits/s sent on schedule (each CVM booting meanwhile)` : `${CONCURRENCY} clients in a closed loop`;
  console.log(`  e. commit → CreateVm reaching the host (control-plane time), ${DEPLOYS} deploys, ${load} (after ${WARMUP} warm-up), host in its own process`);
  console.log(`     server (POST /cvms → worker → CreateVm)            p50 ${f1(r.server.p50).padStart(6)} ms, p99 ${f1(r.server.p99).padStart(6)} ms, max ${f1(r.server.max)} ms`);
  console.log(`       of which the commit's answer (POST /cvms → 200)    p50 ${f1(r.answer.p50).padStart(6)} ms, p99 ${f1(r.answer.p99).padStart(6)} ms`);
  console.log(`     floor (INSERT, then CreateVm, same db and host)    p50 ${f1(r.floor.p50).padStart(6)} ms, p99 ${f1(r.floor.p99).padStart(6)} ms, max ${f1(r.floor.max)} ms`);
  console.log(`     p99 ratio server / floor = ${r.ratio.toFixed(2)}   target server p99 <= ${CREATE_P99_TARGET_MS} ms   ${r.server.p99 <= CREATE_P99_TARGET_MS ? 'PASS' : 'MISS'}`);
}
