/**
 * `npm run bench`: throughput of the real server against a bare node:http baseline doing the same
 * database work, on the embedded PostgreSQL (what `npm start` runs: PostgreSQL 18 in the data dir, durable
 * settings) and on a separately started PostgreSQL (a throwaway cluster from scripts/pg-throwaway.ts), in
 * one run.
 *
 *  a. provision+commit pairs/s: N clients each run POST /cvms/provision, then POST /cvms (commit)
 *     with the returned app_id/compose_hash, for a fixed number of pairs. The real server runs as in
 *     production: its operation worker boots the committed CVMs on the simulated host meanwhile.
 *     Baseline ("bare"): a node:http server on the server's own Db object (the same pg
 *     pool) answering the same two requests with only the writes a pair must make, one
 *     statement per write:
 *       provision = 1 transaction: UPDATE workspaces (take the deployer's next nonce: the app id is
 *                   its CREATE address, which is what keeps app ids unique), INSERT provisions;
 *       commit    = 1 transaction: SELECT the provision FOR UPDATE, INSERT apps, INSERT cvms,
 *                   INSERT operations, INSERT revisions (every deploy is its app's first revision),
 *                   UPDATE provisions (committed_at).
 *     The bare server skips everything else the real one does: API-key check, request validation,
 *     app-compose normalisation, placement (nodes/images/usage queries, at provision and again at
 *     commit under the node row lock), name checks, KMS key derivation, reading the CVM back for the
 *     response, and the worker's boot work (the worker is stopped while the baseline runs, so nobody
 *     boots the baseline's rows). Target: server / bare >= 0.5, the server's worker booting the
 *     committed CVMs on the simulated host meanwhile.
 *     Also reported, as a breakdown: the same pairs on the server with its worker stopped (the request path
 *     alone), and the CPU ms per pair of the bench's process, PostgreSQL and the simulated host (bench/cpu.ts)
 *     for each of the three runs, with the rate that much CPU allows on this machine's CPUs at most.
 *
 *  b. GET /cvms/{id} req/s: a fixed-concurrency keep-alive loop over a fixed duration after a
 *     warm-up, against the real server and against a bare node:http server in this same process that
 *     runs exactly the same query (store/cvms.ts `findCvm` by vm_uuid: the 8-table join, LIMIT 1, and
 *     its row->view mapping) on the same Db object, and answers JSON.stringify(view) without auth or
 *     API-version shaping. Target: server / bare >= 0.85. And the embedded PostgreSQL (what `npm start`
 *     runs) against the external one: the server's GET req/s on each, target embedded / external >= 0.9.
 *
 *  d. (PostgreSQL) database transactions/s with 10, 100 and 1,000 open state streams while CVMs change state:
 *     see bench/streams.ts.
 *
 *  e. commit → CreateVm reaching the simulated host (its own process), p50/p99 of the control plane's time,
 *     against a floor (one INSERT, then CreateVm) in the same run: see bench/create-latency.ts. Target: p99 <= 25 ms.
 *
 *  f. placement: the scheduler placing 10,000 CVMs on 1,000 hosts (no database), against a bare first-fit
 *     loop over the same arrays: see bench/placement.ts. Runs first, before any server starts.
 *
 *  g. webhook deliveries/s: events recorded through the fan-out trigger, delivered signed to a receiver on
 *     127.0.0.1, against a bare loop posting the same bodies with the same client: see bench/webhooks.ts.
 *
 * The load generator runs in a worker thread (own event loop, node:http keep-alive agent), the
 * servers on the main thread; all traffic is on 127.0.0.1. The bench reports, it does not judge: it
 * exits 0 when a target is missed, and 1 only on errors (a failed request, a crash).
 * BENCH_DB=embedded|postgres runs one database only; BENCH_ONLY=deploy runs part a only, BENCH_ONLY=create part e only, BENCH_ONLY=webhooks part g only; BENCH_SIM=inprocess
 * runs the simulated host in this process rather than its own (see startSim); BENCH_LOG=1 shows the server's
 * error log.
 */
import { randomBytes, randomUUID, createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker as Thread } from 'node:worker_threads';
import pg from 'pg';
import { createAddress } from '@opencvm/core';
import type { VmmSimOptions } from '@opencvm/vmm-sim';
import { startServer, type RunningServer } from '../packages/server/src/app.ts';
import { loadConfig } from '../packages/server/src/config.ts';
import type { Db } from '../packages/server/src/db/index.ts';
import { simulatedDeviceId } from '../packages/server/src/services/nodes.ts';
import { findCvm } from '../packages/server/src/store/cvms.ts';
import { startThrowawayPostgres } from '../scripts/pg-throwaway.ts';
import { PAGINATED_CVMS, benchPaginated, type PaginatedResult } from './paginated.ts';
import { benchStreams, reportStreams, type StreamsResult } from './streams.ts';
import { cpuMeter, parentOf, type CpuSpent } from './cpu.ts';
import { benchServerConfig, launchSim } from './sim-launch.ts';
import { CREATE_P99_TARGET_MS, benchCreateLatency, reportCreateLatency, type CreateLatencyResult } from './create-latency.ts';
import { benchPlacement, reportPlacement, summaryPlacement } from './placement.ts';
import { benchWebhooks, reportWebhooks, summaryWebhooks, type WebhooksResult } from './webhooks.ts';

const PAIRS = 300;
const PAIR_WARMUP = 20;
const PAIR_CLIENTS = 8;
const GET_CONCURRENCY = 16;
const GET_WARMUP_MS = 500;
const GET_DURATION_MS = 5000;
/** GET /cvms/{id} req/s of the server over the bare read */
const TARGET = 0.85;
/** the embedded PostgreSQL's GET /cvms/{id} req/s over an external PostgreSQL's, in the same run */
const ENGINE_TARGET = 0.9;
/** provision+commit pairs/s of the server over the bare writes-only floor */
const PAIR_TARGET = 0.5;
/** BENCH_ONLY=deploy runs the provision+commit part only (no GETs, no paginated run); BENCH_ONLY=create part e only */
const ONLY = process.env.BENCH_ONLY;
/** part d's result (PostgreSQL run), for the summary */
let streams: StreamsResult | undefined;
if (ONLY && ONLY !== 'deploy' && ONLY !== 'create' && ONLY !== 'webhooks') throw new Error(`BENCH_ONLY must be deploy, create or webhooks, not "${ONLY}"`);
/** part g's result (embedded PostgreSQL), for the summary */
let webhooks: WebhooksResult | undefined;
/** BENCH_SIM=inprocess runs the simulated host in the bench's process (default: its own process) */
const SIM_MODE = process.env.BENCH_SIM ?? 'process';
if (SIM_MODE !== 'process' && SIM_MODE !== 'inprocess') throw new Error(`BENCH_SIM must be process or inprocess, not "${SIM_MODE}"`);
/** the server's pool size on PostgreSQL: OPENCVM_DB_POOL, parsed as the server parses it */
const DB_POOL = loadConfig({ OPENCVM_DB_POOL: process.env.OPENCVM_DB_POOL }).dbPool;
/** the whole run is aborted (as an error) past this */
const WATCHDOG_MS = 10 * 60_000;

const composeYaml = `services:
  app:
    image: nginx:latest
    environment:
      - API_KEY=\${API_KEY}
    ports:
      - "80:80"
`;

// ---------------------------------------------------------------------------------------------
// load generator (worker thread; plain CommonJS so it needs no loader)

const LOADGEN = String.raw`
const { parentPort, workerData } = require('node:worker_threads');
const http = require('node:http');
const { performance } = require('node:perf_hooks');

function request(agent, url, method, headers, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent, headers: body ? { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.setTimeout(30000, () => req.destroy(new Error(method + ' ' + url + ' timed out after 30 s')));
    req.on('error', reject);
    req.end(body);
  });
}

async function getLoad(t) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: t.concurrency });
  const start = performance.now();
  const from = start + t.warmupMs, until = from + t.durationMs;
  let count = 0, errors = 0, firstError = null, bytes = 0;
  const lat = [];
  const client = async () => {
    for (;;) {
      const t0 = performance.now();
      if (t0 >= until) return;
      const r = await request(agent, t.url, 'GET', t.headers);
      const t1 = performance.now();
      if (r.status !== 200) { errors++; firstError ??= r.status + ' ' + r.body.slice(0, 300); continue; }
      if (t1 >= from && t1 <= until) { count++; lat.push(t1 - t0); bytes += r.body.length; }
    }
  };
  await Promise.all(Array.from({ length: t.concurrency }, client));
  agent.destroy();
  return { count, errors, firstError, seconds: t.durationMs / 1000, lat, bytes };
}

async function pairLoad(t) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: t.concurrency });
  let next = 0, errors = 0, firstError = null, done = 0;
  const vmUuids = [];
  const start = performance.now();
  const client = async () => {
    while (next < t.count) {
      const i = next++;
      const name = t.prefix + '-' + String(i).padStart(5, '0');
      const p = await request(agent, t.base + '/cvms/provision', 'POST', t.headers,
        JSON.stringify({ name, instance_type: 'tdx.small', compose_file: { docker_compose_file: t.compose } }));
      if (p.status !== 200) { errors++; firstError ??= 'provision ' + p.status + ' ' + p.body.slice(0, 300); continue; }
      const prov = JSON.parse(p.body);
      const c = await request(agent, t.base + '/cvms', 'POST', t.headers,
        JSON.stringify({ app_id: prov.app_id, compose_hash: prov.compose_hash }));
      if (c.status !== 200) { errors++; firstError ??= 'commit ' + c.status + ' ' + c.body.slice(0, 300); continue; }
      done++;
      if (vmUuids.length < 5) vmUuids.push(JSON.parse(c.body).vm_uuid);
    }
  };
  await Promise.all(Array.from({ length: t.concurrency }, client));
  const seconds = (performance.now() - start) / 1000;
  agent.destroy();
  return { count: done, errors, firstError, seconds, vmUuids };
}

(workerData.kind === 'get' ? getLoad(workerData) : pairLoad(workerData)).then(
  (r) => parentPort.postMessage({ ok: true, r }),
  (e) => parentPort.postMessage({ ok: false, error: String(e && e.stack || e) }),
);
`;

interface GetTask { kind: 'get'; url: string; headers: Record<string, string>; concurrency: number; warmupMs: number; durationMs: number }
interface PairTask { kind: 'pairs'; base: string; headers: Record<string, string>; concurrency: number; count: number; prefix: string; compose: string }
interface GetResult { count: number; errors: number; firstError: string | null; seconds: number; lat: number[]; bytes: number }
interface PairResult { count: number; errors: number; firstError: string | null; seconds: number; vmUuids: string[] }

/** every failed request of the run (any non-200 answer): the bench still reports, then exits 1 */
const failures: string[] = [];

function load(task: GetTask): Promise<GetResult>;
function load(task: PairTask): Promise<PairResult>;
function load(task: GetTask | PairTask): Promise<GetResult | PairResult> {
  return new Promise((resolve, reject) => {
    const t = new Thread(LOADGEN, { eval: true, workerData: task });
    t.once('message', (m: { ok: boolean; r?: any; error?: string }) => {
      void t.terminate();
      if (!m.ok) return reject(new Error(`load generator: ${m.error}`));
      // failed requests are not counted in the rate; they are reported, and make the exit status 1
      if (m.r.errors) failures.push(`${task.kind === 'get' ? `GET ${task.url}` : `pairs via ${task.base}`}: ${m.r.errors} failed, first: ${m.r.firstError}`);
      resolve(m.r);
    });
    t.once('error', reject);
  });
}

// ---------------------------------------------------------------------------------------------
// the bare baseline server

interface BareContext { workspaceId: number; userId: number; nodeId: number; kmsId: string; image: string }

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, body: unknown) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function startBare(db: Db, ctx: BareContext): Promise<{ url: string; close(): Promise<void> }> {
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '').split('?')[0];
    if (req.method === 'GET' && path.startsWith('/api/v1/cvms/')) {
      // the same query and row mapping as the server's GET /cvms/{uuid}; no auth, no response shaping
      const view = await findCvm(db, ctx.workspaceId, { kind: 'uuid', value: decodeURIComponent(path.slice('/api/v1/cvms/'.length)) });
      return view ? send(res, 200, view) : send(res, 404, { detail: 'not found' });
    }
    if (req.method === 'POST' && path === '/api/v1/cvms/provision') {
      const body = JSON.parse(await readBody(req));
      const appCompose = JSON.stringify({ ...body.compose_file, name: body.name });
      const composeHash = createHash('sha256').update(appCompose).digest('hex');
      const appId = await db.tx(async (q) => {
        // the app id: a PHALA-KMS app id is the CREATE address of the workspace's deployer and its next nonce
        // (as on Phala Cloud), so a provision must take that nonce, a write on the workspace's row
        const [ws] = await q.query<{ team_wallet: string; nonce: number }>(
          'UPDATE workspaces SET next_nonce = next_nonce + 1 WHERE id = $1 RETURNING team_wallet, next_nonce - 1 AS nonce',
          [ctx.workspaceId],
        );
        const appId = createAddress(ws.team_wallet, ws.nonce);
        await q.query(
          `INSERT INTO provisions (workspace_id, user_id, compose_hash, app_id, name, app_compose, node_id, kms_id,
                                   instance_type, vcpu, memory_mb, disk_gb, image, listed, nonce, settings, expires_at)
           VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,1,2048,20,$10,false,$11,$12, now() + interval '14 days')`,
          [ctx.workspaceId, ctx.userId, composeHash, appId, body.name, appCompose, ctx.nodeId, ctx.kmsId, body.instance_type ?? null,
            ctx.image, ws.nonce, JSON.stringify({ ports: [], env_keys: [], encrypted_env: null })],
        );
        return appId;
      });
      return send(res, 200, { compose_hash: composeHash, app_id: appId });
    }
    if (req.method === 'POST' && path === '/api/v1/cvms') {
      const body = JSON.parse(await readBody(req));
      const out = await db.tx(async (q) => {
        const [prov] = await q.query<{ id: number; name: string; app_compose: string; instance_type: string | null; image: string }>(
          `SELECT id, name, app_compose, instance_type, image FROM provisions
            WHERE workspace_id = $1 AND compose_hash = $2 AND app_id = $3 AND committed_at IS NULL LIMIT 1 FOR UPDATE`,
          [ctx.workspaceId, body.compose_hash, body.app_id],
        );
        if (!prov) return null;
        await q.query(`INSERT INTO apps (app_id, workspace_id, name, kms_id) VALUES ($1, $2, $3, $4) ON CONFLICT (app_id) DO NOTHING`, [
          body.app_id, ctx.workspaceId, prov.name, ctx.kmsId,
        ]);
        const vmUuid = randomUUID();
        const [cvm] = await q.query<{ id: number }>(
          `INSERT INTO cvms (vm_uuid, workspace_id, creator_id, app_id, name, status, node_id, kms_id, instance_type, vcpu,
                             memory_mb, disk_gb, image, compose_hash, app_compose)
           VALUES ($1,$2,$3,$4,$5,'starting',$6,$7,$8,1,2048,20,$9,$10,$11) RETURNING id`,
          [vmUuid, ctx.workspaceId, ctx.userId, body.app_id, prov.name, ctx.nodeId, ctx.kmsId, prov.instance_type, prov.image,
            body.compose_hash, prov.app_compose],
        );
        const correlationId = randomUUID();
        const [op] = await q.query<{ id: number }>(
          `INSERT INTO operations (correlation_id, workspace_id, cvm_id, kind, target_status, state)
           VALUES ($1, $2, $3, 'create', 'running', 'pending') RETURNING id`,
          [correlationId, ctx.workspaceId, cvm.id],
        );
        // every deploy is the first revision of its app (GET /apps/{app_id}/revisions lists it)
        await q.query(
          `INSERT INTO revisions (revision_id, workspace_id, app_id, cvm_id, compose_hash, app_compose, operation_type, operation_id,
                                  correlation_id, triggered_by)
           VALUES ($1, $2, $3, $4, $5, $6, 'create', $7, $8, $9)`,
          [`rev_${randomBytes(8).toString('hex')}`, ctx.workspaceId, body.app_id, cvm.id, body.compose_hash, prov.app_compose, op.id,
            correlationId, ctx.userId],
        );
        await q.query('UPDATE provisions SET committed_at = now() WHERE id = $1', [prov.id]);
        return { id: cvm.id, vm_uuid: vmUuid, app_id: body.app_id, name: prov.name, status: 'starting' };
      });
      return out ? send(res, 200, out) : send(res, 400, { detail: 'not provisioned' });
    }
    send(res, 404, { detail: 'no route' });
  };
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((e) => {
      console.error('bare server error:', e);
      if (!res.headersSent) send(res, 500, { detail: String(e) });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

// ---------------------------------------------------------------------------------------------
// the simulated host

/** The simulated host: its own process unless BENCH_SIM=inprocess (bench/sim-launch.ts). */
const startSim = (opts: VmmSimOptions) => launchSim(opts, SIM_MODE === 'inprocess');

// ---------------------------------------------------------------------------------------------
// one database: server + sim, pairs, GETs, baselines

/** cleanups of whatever is running, newest first; run on the way out, also on SIGINT/SIGTERM */
const cleanups: (() => Promise<unknown>)[] = [];
function onCleanup(fn: () => Promise<unknown>): () => Promise<void> {
  let once: Promise<void> | undefined;
  const run = () => (once ??= fn().then(() => {}, (e) => console.error(`cleanup: ${(e as Error).message}`)));
  cleanups.push(run);
  return async () => {
    await run();
    const i = cleanups.indexOf(run);
    if (i >= 0) cleanups.splice(i, 1);
  };
}
async function cleanupAll() {
  while (cleanups.length) await cleanups.pop()!();
}

interface DbResult {
  label: string;
  /** rows in cvms when the GETs ran */
  cvmRows: number;
  /** `requestPath`: the same pairs on the server with its worker stopped (nothing boots) */
  pairs: { server: PairResult; requestPath: PairResult; bare: PairResult };
  /** CPU used while the measured pairs ran */
  cpu: { server: CpuSpent; requestPath: CpuSpent; bare: CpuSpent };
  /** absent with BENCH_ONLY=deploy */
  get?: { server: GetResult; bare: GetResult; ratio: number };
  paginated?: PaginatedResult;
  /** part e */
  create?: CreateLatencyResult;
}

const P99_TARGET_MS = 30;
const RSS_TARGET_MB = 250;

function reportPaginated(r: PaginatedResult) {
  console.log(`  c. GET /cvms/paginated with ${PAGINATED_CVMS} CVMs in the workspace, random pages of 50, server as its own process`);
  console.log(`     p50 ${f1(r.p50)} ms, p99 ${f1(r.p99)} ms   target p99 <= ${P99_TARGET_MS} ms   ${r.p99 <= P99_TARGET_MS ? 'PASS' : 'MISS'}`);
  console.log(`     server RSS ${f1(r.rssMb)} MB   target <= ${RSS_TARGET_MB} MB   ${r.rssMb <= RSS_TARGET_MB ? 'PASS' : 'MISS'}`);
}

const rate = (r: { count: number; seconds: number }) => r.count / r.seconds;
const pct = (sorted: number[], p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] : 0);

function mergeGets(a: GetResult, b: GetResult): GetResult {
  return {
    count: a.count + b.count,
    errors: a.errors + b.errors,
    firstError: a.firstError ?? b.firstError,
    seconds: a.seconds + b.seconds,
    lat: [...a.lat, ...b.lat].sort((x, y) => x - y),
    bytes: a.bytes + b.bytes,
  };
}
const f1 = (n: number) => n.toFixed(1);
const f2 = (n: number) => n.toFixed(2);

async function benchOne(label: string, databaseUrl: string | undefined): Promise<DbResult> {
  const dataDir = mkdtempSync(join(tmpdir(), 'opencvm-bench-'));
  const removeDir = onCleanup(async () => rmSync(dataDir, { recursive: true, force: true }));
  const kmsToken = randomBytes(24).toString('base64url');
  const apiKey = `phak_bench_${randomBytes(24).toString('base64url')}`;
  const sim = await startSim({
    name: 'bench-sim',
    bootMs: 100,
    shutdownMs: 50,
    kmsToken,
    deviceId: simulatedDeviceId('bench-sim'),
    resources: { maxCvms: 100_000, maxVcpu: 1e6, maxMemoryMb: 1e9, maxDiskGb: 1e9 },
  });
  const closeSim = onCleanup(() => sim.close());
  const config = benchServerConfig({ dataDir, databaseUrl, apiKey, host: { name: 'bench-sim', url: sim.url, kmsToken }, dbPool: DB_POOL });
  // BENCH_LOG=1 shows the server's error log (off by default: the bench measures without request logging)
  const server: RunningServer = await startServer({ config, logger: process.env.BENCH_LOG === '1' });
  const closeServer = onCleanup(() => server.close());
  const headers = { 'x-api-key': apiKey };
  const base = server.apiUrl;

  // a. provision+commit on the real server (its worker boots the CVMs on the sim meanwhile)
  await load({ kind: 'pairs', base, headers, concurrency: PAIR_CLIENTS, count: PAIR_WARMUP, prefix: 'warm-srv', compose: composeYaml });
  await server.worker.idle(120_000);
  const [{ pid: backend }] = await server.db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  const cpuGroups = { self: true as const, postmaster: parentOf(backend) ?? undefined, sim: sim.pid };
  // the CPU of the pairs and of the boots they queued: measured until the worker is idle again
  const serverMeter = cpuMeter(cpuGroups);
  const serverPairs = await load({ kind: 'pairs', base, headers, concurrency: PAIR_CLIENTS, count: PAIRS, prefix: 'bench-srv', compose: composeYaml });
  await server.worker.idle(120_000);
  const serverCpu = serverMeter();

  // the bare server shares the server's Db object: the same pg pool
  const principal = await server.services.auth.authenticate(apiKey);
  const [node] = await server.db.query<{ id: number }>('SELECT id FROM nodes ORDER BY id LIMIT 1');
  const [kms] = await server.db.query<{ id: string }>(`SELECT id FROM kms_instances WHERE kms_type = 'phala' LIMIT 1`);
  const [image] = await server.db.query<{ name: string }>('SELECT name FROM node_images WHERE node_id = $1 AND is_dev ORDER BY name LIMIT 1', [node.id]);
  const bare = await startBare(server.db, { workspaceId: principal.workspaceId, userId: principal.userId, nodeId: node.id, kmsId: kms.id, image: image.name });
  const closeBare = onCleanup(() => bare.close());

  // b. GET /cvms/{vm_uuid} of a running CVM: same path, same headers, same load loop on both servers
  const vmUuid = serverPairs.vmUuids[0];
  if (!vmUuid) throw new Error(`no provision+commit pair succeeded on the server (${serverPairs.firstError})`);
  const path = `/api/v1/cvms/${vmUuid}`;
  for (const url of [`${server.url}${path}`, `${bare.url}${path}`]) {
    const r = await fetch(url, { headers });
    const body = (await r.json()) as { vm_uuid?: string; status?: string };
    if (r.status !== 200 || body.vm_uuid !== vmUuid || body.status !== 'running') {
      throw new Error(`GET ${url} answered ${r.status} ${JSON.stringify(body).slice(0, 300)}`);
    }
  }
  // order server, bare, bare, server (each: warm-up, then half the duration) so drift during the run
  // (JIT, heap growth, PostgreSQL's autovacuum analysing the fresh rows) weighs on both sides alike
  const getTask = (url: string): GetTask => ({ kind: 'get', url, headers, concurrency: GET_CONCURRENCY, warmupMs: GET_WARMUP_MS, durationMs: GET_DURATION_MS / 2 });
  let serverGet: GetResult | null = null;
  let bareGet: GetResult | null = null;
  if (ONLY !== 'deploy') {
    const s1 = await load(getTask(`${server.url}${path}`));
    const b1 = await load(getTask(`${bare.url}${path}`));
    const b2 = await load(getTask(`${bare.url}${path}`));
    const s2 = await load(getTask(`${server.url}${path}`));
    serverGet = mergeGets(s1, s2);
    bareGet = mergeGets(b1, b2);
  }
  const [{ n: cvmRows }] = await server.db.query<{ n: number }>('SELECT count(*)::int AS n FROM cvms');

  // a. baseline: stop the worker first so nobody boots the baseline's CVM rows
  await server.worker.stop();
  // the request path alone: the same pairs on the server, nothing boots (a breakdown, not a target)
  const requestMeter = cpuMeter(cpuGroups);
  const requestPairs = await load({ kind: 'pairs', base, headers, concurrency: PAIR_CLIENTS, count: PAIRS, prefix: 'bench-req', compose: composeYaml });
  const requestCpu = requestMeter();
  await load({ kind: 'pairs', base: `${bare.url}/api/v1`, headers, concurrency: PAIR_CLIENTS, count: PAIR_WARMUP, prefix: 'warm-bare', compose: composeYaml });
  const bareMeter = cpuMeter(cpuGroups);
  const barePairs = await load({ kind: 'pairs', base: `${bare.url}/api/v1`, headers, concurrency: PAIR_CLIENTS, count: PAIRS, prefix: 'bench-bare', compose: composeYaml });
  const bareCpu = bareMeter();

  await closeBare();
  await closeServer();
  await closeSim();
  await removeDir();
  return {
    label, cvmRows, pairs: { server: serverPairs, requestPath: requestPairs, bare: barePairs },
    cpu: { server: serverCpu, requestPath: requestCpu, bare: bareCpu },
    get: serverGet && bareGet ? { server: serverGet, bare: bareGet, ratio: rate(serverGet) / rate(bareGet) } : undefined,
  };
}

function report(r: DbResult) {
  const sp = rate(r.pairs.server);
  const bp = rate(r.pairs.bare);
  const pairRatio = sp / bp;
  const lat = (g: GetResult) => `p50 ${f2(pct(g.lat, 0.5))} ms, p99 ${f2(pct(g.lat, 0.99))} ms, ${Math.round(g.bytes / Math.max(1, g.count))} B/resp`;
  console.log(`\n== ${r.label}`);
  console.log(`  a. provision+commit, ${PAIRS} pairs, ${PAIR_CLIENTS} clients (after ${PAIR_WARMUP} warm-up pairs)`);
  const failed = (n: number) => (n ? `, ${n} request(s) FAILED` : '');
  console.log(`     server (full flow, worker booting CVMs meanwhile)   ${f1(sp).padStart(8)} pairs/s  (${f2(r.pairs.server.seconds)} s${failed(r.pairs.server.errors)})`);
  console.log(`     bare node:http (the writes only, 2 tx per pair)     ${f1(bp).padStart(8)} pairs/s  (${f2(r.pairs.bare.seconds)} s${failed(r.pairs.bare.errors)})`);
  const rp = r.pairs.requestPath;
  console.log(`     (server with its worker stopped: request path only ${f1(rate(rp)).padStart(8)} pairs/s  (${f2(rp.seconds)} s${failed(rp.errors)}), ratio ${f2(rate(rp) / bp)})`);
  console.log(`     ratio server / bare = ${f2(pairRatio)}   target >= ${PAIR_TARGET}   ${pairRatio >= PAIR_TARGET ? 'PASS' : 'MISS'}`);
  reportCpu(r);
  if (!r.get) return;
  const sg = rate(r.get.server);
  const bg = rate(r.get.bare);
  console.log(`  b. GET /cvms/{vm_uuid} (${r.cvmRows} rows in cvms), ${GET_CONCURRENCY} connections, ${GET_DURATION_MS / 1000} s each, as server/bare/bare/server halves after ${GET_WARMUP_MS / 1000} s warm-ups`);
  console.log(`     server (auth + findCvm + v2026 shaping, fastify)   ${f1(sg).padStart(8)} req/s    (${lat(r.get.server)}${failed(r.get.server.errors)})`);
  console.log(`     bare node:http (same findCvm query, no auth)       ${f1(bg).padStart(8)} req/s    (${lat(r.get.bare)}${failed(r.get.bare.errors)})`);
  console.log(`     ratio = server / bare = ${f2(r.get.ratio)}   target >= ${TARGET}   ${r.get.ratio >= TARGET ? 'PASS' : 'MISS'}`);
}

/**
 * CPU ms per pair by process (the server's includes the boots, measured until its worker is idle), and the
 * rate that much CPU per pair allows on this machine's CPUs at most.
 */
function reportCpu(r: DbResult) {
  const cols = (c: CpuSpent, pairs: number) => {
    const per = (ms: number | null) => (ms === null ? null : ms / pairs);
    const parts = [per(c.benchMs), per(c.postgresMs), per(c.simMs)];
    const total = parts.reduce<number>((a, b) => a + (b ?? 0), 0);
    const cell = (v: number | null) => (v === null ? 'n/a' : f1(v)).padStart(9);
    return { text: `${parts.map(cell).join('')}${cell(total)}`, total };
  };
  const s = cols(r.cpu.server, r.pairs.server.count);
  const q = cols(r.cpu.requestPath, r.pairs.requestPath.count);
  const b = cols(r.cpu.bare, r.pairs.bare.count);
  const ceiling = (total: number) => (total > 0 ? f1((cpus().length * 1000) / total) : 'n/a');
  console.log(`     CPU ms per pair        bench  postgres      sim    total   (bench = servers + load generator)`);
  console.log(`       server + boots${s.text}   at most ${ceiling(s.total)} pairs/s on ${cpus().length} CPU(s)`);
  console.log(`       request path  ${q.text}   at most ${ceiling(q.total)} pairs/s on ${cpus().length} CPU(s)`);
  console.log(`       bare          ${b.text}   at most ${ceiling(b.total)} pairs/s on ${cpus().length} CPU(s)`);
}

async function benchPostgres(results: DbResult[]) {
  const cluster = await startThrowawayPostgres({ log: (line) => console.log(`  [pg-throwaway] ${line}`) });
  const stopCluster = onCleanup(() => cluster.stop());
  const admin = new pg.Client({ connectionString: cluster.url });
  await admin.connect();
  const version = (await admin.query<{ v: string }>(`SELECT current_setting('server_version') AS v`)).rows[0].v.split(' ')[0];
  await admin.query('CREATE DATABASE opencvm_bench');
  await admin.end();
  const dbUrl = cluster.url.replace(/\/postgres$/, '/opencvm_bench');
  results.push(await benchOne(`PostgreSQL ${version} (throwaway cluster, fsync=off, pg pool max ${DB_POOL})`, dbUrl));
  report(results[results.length - 1]);
  if (ONLY === 'deploy') return stopCluster();
  const admin2 = new pg.Client({ connectionString: cluster.url });
  await admin2.connect();
  await admin2.query('CREATE DATABASE opencvm_bench_paginated');
  await admin2.end();
  results[results.length - 1].paginated = await benchPaginated(cluster.url.replace(/\/postgres$/, '/opencvm_bench_paginated'));
  reportPaginated(results[results.length - 1].paginated!);
  // d. state streams (bench/streams.ts): database load at 10, 100 and 1,000 open streams
  const admin3 = new pg.Client({ connectionString: cluster.url });
  await admin3.connect();
  await admin3.query('CREATE DATABASE opencvm_bench_streams');
  await admin3.end();
  streams = await benchStreams(cluster.url.replace(/\/postgres$/, '/opencvm_bench_streams'));
  reportStreams(streams);
  // e. commit → CreateVm (bench/create-latency.ts)
  const admin4 = new pg.Client({ connectionString: cluster.url });
  await admin4.connect();
  await admin4.query('CREATE DATABASE opencvm_bench_create');
  await admin4.end();
  results[results.length - 1].create = await benchCreateLatency(cluster.url.replace(/\/postgres$/, '/opencvm_bench_create'), { inProcessSim: SIM_MODE === 'inprocess', dbPool: DB_POOL });
  reportCreateLatency(results[results.length - 1].create!);
  await stopCluster();
}

/** set on SIGINT/SIGTERM: what fails while the servers are taken down is not reported */
let interrupted = false;

async function main() {
  const t0 = Date.now();
  const watchdog = setTimeout(() => {
    console.error(`bench: still running after ${WATCHDOG_MS / 1000} s, aborting`);
    void cleanupAll().finally(() => process.exit(1));
  }, WATCHDOG_MS);
  watchdog.unref();
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      interrupted = true;
      console.error(`bench: ${sig}, cleaning up`);
      void cleanupAll().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
    });
  }

  console.log(`opencvm bench — node ${process.version}, ${cpus().length} CPU(s), ${process.platform}/${process.arch}`);
  console.log('servers on the main thread, load generator in a worker thread (node:http keep-alive); all traffic on 127.0.0.1');
  console.log(`simulated host: ${SIM_MODE === 'inprocess' ? 'in this process (BENCH_SIM=inprocess)' : 'its own process (bench/sim-process.ts)'}`);
  console.log('bare GET baseline: the same SELECT as store/cvms.ts findCvm (8-table join by vm_uuid, LIMIT 1) + its row mapping, JSON.stringify, no auth');
  console.log('bare pair baseline: provision = tx{UPDATE workspaces (nonce), INSERT provisions}; commit = tx{SELECT provision FOR UPDATE, INSERT apps, INSERT cvms, INSERT operations, INSERT revisions, UPDATE provisions}');

  // f. placement: pure computation, run before the servers load the machine
  const placement = benchPlacement();
  reportPlacement(placement);

  const results: DbResult[] = [];
  const only = process.env.BENCH_DB;
  if (only && only !== 'embedded' && only !== 'postgres') throw new Error(`BENCH_DB must be embedded or postgres, not "${only}"`);
  if (ONLY === 'webhooks') {
    // part g alone, on one database (BENCH_DB=postgres: a throwaway cluster; else the embedded one)
    let url: string | undefined;
    if (only === 'postgres') {
      const cluster = await startThrowawayPostgres({ log: (line) => console.log(`  [pg-throwaway] ${line}`) });
      onCleanup(() => cluster.stop());
      url = cluster.url;
    }
    console.log(`\n== ${only === 'postgres' ? 'PostgreSQL (throwaway cluster)' : `embedded PostgreSQL (npm start's default, pg pool max ${DB_POOL})`}`);
    const w = await benchWebhooks(url, { dbPool: DB_POOL });
    reportWebhooks(w);
    await cleanupAll();
    console.log(`\n== summary\n${summaryWebhooks(w)}`);
    console.log(`  total bench time ${f1((Date.now() - t0) / 1000)} s`);
    clearTimeout(watchdog);
    return 0;
  }
  if (ONLY === 'create') {
    // part e alone, on one database (BENCH_DB=postgres: a throwaway cluster; else the embedded one)
    const label = only === 'postgres' ? 'PostgreSQL (throwaway cluster)' : `embedded PostgreSQL (npm start's default, pg pool max ${DB_POOL})`;
    let url: string | undefined;
    if (only === 'postgres') {
      const cluster = await startThrowawayPostgres({ log: (line) => console.log(`  [pg-throwaway] ${line}`) });
      onCleanup(() => cluster.stop());
      url = cluster.url;
    }
    console.log(`\n== ${label}`);
    const create = await benchCreateLatency(url, { inProcessSim: SIM_MODE === 'inprocess', dbPool: DB_POOL });
    reportCreateLatency(create);
    await cleanupAll();
    console.log(`\n== summary\n  commit → CreateVm p99 ${f1(create.server.p99)} ms / floor ${f1(create.floor.p99)} ms = ${f2(create.ratio)} (server p99 <= ${CREATE_P99_TARGET_MS} ms: ${create.server.p99 <= CREATE_P99_TARGET_MS ? 'PASS' : 'MISS'})`);
    console.log(`  total bench time ${f1((Date.now() - t0) / 1000)} s`);
    clearTimeout(watchdog);
    return 0;
  }
  if (only !== 'postgres') {
    results.push(await benchOne(`embedded PostgreSQL (npm start's default: data dir on disk, durable, pg pool max ${DB_POOL})`, undefined));
    report(results[results.length - 1]);
    if (ONLY !== 'deploy') {
      results[results.length - 1].paginated = await benchPaginated(undefined);
      reportPaginated(results[results.length - 1].paginated!);
      results[results.length - 1].create = await benchCreateLatency(undefined, { inProcessSim: SIM_MODE === 'inprocess', dbPool: DB_POOL });
      reportCreateLatency(results[results.length - 1].create!);
      // g. webhook deliveries (bench/webhooks.ts), on the embedded PostgreSQL
      webhooks = await benchWebhooks(undefined, { dbPool: DB_POOL });
      reportWebhooks(webhooks);
    }
  }
  if (only !== 'embedded') await benchPostgres(results);


  console.log('\n== summary');
  for (const r of results) {
    const name = r.label.split(' (')[0].padEnd(16);
    const pairRatio = rate(r.pairs.server) / rate(r.pairs.bare);
    console.log(
      `  ${name} pairs/s server ${f1(rate(r.pairs.server)).padStart(7)} / bare ${f1(rate(r.pairs.bare)).padStart(7)} = ${f2(pairRatio)}` +
        ` (>= ${PAIR_TARGET}: ${pairRatio >= PAIR_TARGET ? 'PASS' : 'MISS'})` +
        (r.get ? `   GET req/s server ${f1(rate(r.get.server)).padStart(7)} / bare ${f1(rate(r.get.bare)).padStart(7)} = ${f2(r.get.ratio)} (>= ${TARGET}: ${r.get.ratio >= TARGET ? 'PASS' : 'MISS'})` : ''),
    );
    if (r.create) {
      console.log(
        `  ${''.padEnd(16)} commit → CreateVm p99 ${f1(r.create.server.p99)} ms / floor ${f1(r.create.floor.p99)} ms = ${f2(r.create.ratio)}` +
          ` (server p99 <= ${CREATE_P99_TARGET_MS} ms: ${r.create.server.p99 <= CREATE_P99_TARGET_MS ? 'PASS' : 'MISS'})`,
      );
    }
    if (r.paginated) {
      console.log(
        `  ${''.padEnd(16)} paginated@${PAGINATED_CVMS} p99 ${f1(r.paginated.p99)} ms (<= ${P99_TARGET_MS}: ${r.paginated.p99 <= P99_TARGET_MS ? 'PASS' : 'MISS'})` +
          `   RSS ${f1(r.paginated.rssMb)} MB (<= ${RSS_TARGET_MB}: ${r.paginated.rssMb <= RSS_TARGET_MB ? 'PASS' : 'MISS'})`,
      );
    }
  }
  const [embedded, external] = [results.find((r) => r.label.startsWith('embedded')), results.find((r) => !r.label.startsWith('embedded'))];
  if (embedded?.get && external?.get) {
    const engine = rate(embedded.get.server) / rate(external.get.server);
    console.log(
      `  GET /cvms/{id} req/s embedded ${f1(rate(embedded.get.server))} / external ${f1(rate(external.get.server))} = ${f2(engine)}` +
        ` (>= ${ENGINE_TARGET}: ${engine >= ENGINE_TARGET ? 'PASS' : 'MISS'})`,
    );
  }
  if (streams) {
    const first = streams.rows[0];
    const last = streams.rows[streams.rows.length - 1];
    console.log(
      `  state streams: db transactions/s ${f1(first.xactsPerSec)} at ${first.streams}, ${f1(last.xactsPerSec)} at ${last.streams}` +
        ` (<= ${f1(streams.limit)}: ${streams.pass ? 'PASS' : 'MISS'})`,
    );
  }
  console.log(summaryPlacement(placement));
  if (webhooks) console.log(summaryWebhooks(webhooks));
  console.log(`  total bench time ${f1((Date.now() - t0) / 1000)} s`);
  clearTimeout(watchdog);
  if (failures.length) {
    console.log(`\nERRORS: some requests failed (not counted in the rates above), exit status 1:`);
    for (const f of failures) console.log(`  ${f}`);
    console.log('  (BENCH_LOG=1 npm run bench shows the server error log)');
    return 1;
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  async (e) => {
    if (interrupted) return; // the signal handler cleans up and exits
    console.error('bench failed:', e);
    await cleanupAll();
    process.exit(1);
  },
);
