/**
 * `npm run bench`, part d: open state streams (`GET /cvms/{id}/state`, `Accept: text/event-stream`, what the
 * official SDK's `watchCvmState` reads) against one server on PostgreSQL while its CVMs change state, and
 * measure the database's load for 10, 100 and 1,000 open streams.
 *
 * Setup: one server (worker and runtime reconciler running as in production) with its simulated host,
 * 10 running CVMs. For each stream count N, N streams are opened over the 10 CVMs (N/10 each, `target=stopped`
 * so none ends), and once every stream has its first `state` event, a driver writes a change to one CVM's
 * state every 100 ms (10 changes/s, round robin: `boot_progress`, as the worker records a boot's progress),
 * for a warm-up (12 s: an idle backend reports its counts to the statistics up to 10 s late, so the queries
 * that opened the streams must be reported before the window starts) and then a measured window of 10 s. Every CVM is watched at every N, so each N has the same changes
 * to read: only the number of streams differs.
 *
 * Database load = transactions committed in the bench's database per second, from PostgreSQL's own statistics
 * (`pg_stat_database.xact_commit`, delta over the window; every statement outside a transaction block is a
 * transaction). It counts everything: the hub's reads, the driver's writes, the worker's queue polls, the
 * reconciler, this part's own statistics reads. Also shown: the state queries the server's hub made (its own
 * counter) and the state events the streams received.
 *
 * PASS when the rate at 1,000 streams is at most the rate at 10 streams × 1.2 + 2/s. The margin: backends
 * report their counts to the statistics at most once a second (an idle one within 10 s), so a window's count
 * moves by a fraction of a second's background load; the background itself (worker polls, reconciler ticks,
 * autovacuum) varies between windows. A per-stream cost shows far beyond it: polling each stream every 250 ms
 * would add 4 queries/s per stream, 3,960/s more at 1,000 streams than at 10.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { request, type ClientRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startVmmSim } from '@opencvm/vmm-sim';
import { startServer } from '../packages/server/src/app.ts';
import { benchServerConfig } from './sim-launch.ts';
import { simulatedDeviceId } from '../packages/server/src/services/nodes.ts';

export const STREAM_COUNTS = [10, 100, 1000];
const CVMS = 10;
const CHANGE_EVERY_MS = 100;
const WARMUP_MS = 12_000;
const WINDOW_MS = 10_000;
const MARGIN = { factor: 1.2, plus: 2 };

export interface StreamsRow {
  streams: number;
  seconds: number;
  /** transactions committed per second in the bench's database (pg_stat_database) */
  xactsPerSec: number;
  /** state queries the server's hub made per second (its counter) */
  hubQueriesPerSec: number;
  /** `state` events the streams received per second */
  eventsPerSec: number;
  changesPerSec: number;
}

export interface StreamsResult {
  rows: StreamsRow[];
  pass: boolean;
  limit: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function benchStreams(databaseUrl: string): Promise<StreamsResult> {
  const dataDir = mkdtempSync(join(tmpdir(), 'opencvm-bench-streams-'));
  const kmsToken = randomBytes(24).toString('base64url');
  const apiKey = `phak_bench_${randomBytes(24).toString('base64url')}`;
  const sim = await startVmmSim({ name: 'bench-sim', bootMs: 100, shutdownMs: 50, kmsToken, deviceId: simulatedDeviceId('bench-sim') });
  const config = benchServerConfig({ dataDir, databaseUrl, apiKey, host: { name: 'bench-sim', url: sim.url, kmsToken } });
  const server = await startServer({ config, logger: process.env.BENCH_LOG === '1' });
  const admin = new pg.Client({ connectionString: databaseUrl });
  await admin.connect();
  const open: ClientRequest[] = [];
  try {
    const headers = { 'x-api-key': apiKey, 'content-type': 'application/json' };
    const api = async (method: string, path: string, body?: unknown) => {
      const r = await fetch(`${server.apiUrl}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
      const text = await r.text();
      if (r.status !== 200) throw new Error(`${method} ${path}: ${r.status} ${text.slice(0, 300)}`);
      return JSON.parse(text);
    };
    const cvms: { id: number; vmUuid: string }[] = [];
    for (let i = 0; i < CVMS; i++) {
      const p = await api('POST', '/cvms/provision', { name: `stream-${i}`, instance_type: 'tdx.small', compose_file: { docker_compose_file: 'services:\n  app:\n    image: nginx:latest\n' } });
      const vm = await api('POST', '/cvms', { app_id: p.app_id, compose_hash: p.compose_hash });
      const { rows } = await admin.query<{ id: number }>('SELECT id::int FROM cvms WHERE vm_uuid = $1', [vm.vm_uuid]);
      cvms.push({ id: rows[0].id, vmUuid: vm.vm_uuid });
    }
    await server.worker.idle(60_000);
    for (const c of cvms) {
      const s = await api('GET', `/cvms/${c.vmUuid}/state`);
      if (s.status !== 'running') throw new Error(`CVM ${c.vmUuid} is ${s.status}, not running`);
    }

    const xacts = async () => {
      const { rows } = await admin.query<{ n: string }>('SELECT xact_commit AS n FROM pg_stat_database WHERE datname = current_database()');
      return Number(rows[0].n);
    };
    const hub = server.services.stateHub;
    const rowsOut: StreamsRow[] = [];
    let tick = 0;
    for (const n of STREAM_COUNTS) {
      let events = 0;
      let firsts = 0;
      let failed: Error | undefined;
      for (let i = 0; i < n; i++) {
        const c = cvms[i % CVMS];
        const req = request(`${server.apiUrl}/cvms/${c.vmUuid}/state?target=stopped&timeout=600`, { headers: { 'x-api-key': apiKey, accept: 'text/event-stream' } }, (res) => {
          if (res.statusCode !== 200) failed ??= new Error(`stream ${i}: HTTP ${res.statusCode}`);
          let first = true;
          let buffer = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            const blocks = (buffer + chunk).split('\n\n');
            buffer = blocks.pop()!;
            const count = blocks.filter((b) => b.startsWith('event: state\n')).length;
            if (count && first) {
              first = false;
              firsts++;
            }
            events += count;
          });
          res.on('error', () => {});
        });
        req.on('error', (e) => (failed ??= e));
        req.end();
        open.push(req);
      }
      const until = Date.now() + 60_000;
      while (firsts < n && !failed) {
        if (Date.now() > until) throw new Error(`only ${firsts} of ${n} streams got their first state within 60 s`);
        await sleep(50);
      }
      if (failed) throw failed;
      let changes = 0;
      const driver = setInterval(() => {
        const c = cvms[tick % CVMS];
        tick++;
        changes++;
        admin.query('UPDATE cvms SET boot_progress = $2 WHERE id = $1', [c.id, `bench change ${tick}`]).catch((e) => (failed ??= e));
      }, CHANGE_EVERY_MS);
      await sleep(WARMUP_MS);
      const x0 = await xacts();
      const q0 = hub.stats.queries;
      const e0 = events;
      const c0 = changes;
      const t0 = performance.now();
      await sleep(WINDOW_MS);
      const x1 = await xacts();
      const seconds = (performance.now() - t0) / 1000;
      const row: StreamsRow = {
        streams: n,
        seconds,
        xactsPerSec: (x1 - x0) / seconds,
        hubQueriesPerSec: (hub.stats.queries - q0) / seconds,
        eventsPerSec: (events - e0) / seconds,
        changesPerSec: (changes - c0) / seconds,
      };
      clearInterval(driver);
      if (failed) throw failed;
      rowsOut.push(row);
      for (const req of open.splice(0)) req.destroy();
      const closing = Date.now() + 30_000;
      while (hub.watchedCvms > 0) {
        if (Date.now() > closing) throw new Error(`${hub.watchedCvms} CVMs still watched 30 s after the streams closed`);
        await sleep(50);
      }
    }
    const low = rowsOut[0].xactsPerSec;
    const high = rowsOut[rowsOut.length - 1].xactsPerSec;
    const limit = low * MARGIN.factor + MARGIN.plus;
    return { rows: rowsOut, pass: high <= limit, limit };
  } finally {
    for (const req of open) req.destroy();
    await admin.end().catch(() => {});
    await server.close();
    await sim.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const f1 = (n: number) => n.toFixed(1);

export function reportStreams(r: StreamsResult) {
  console.log(`  d. open state streams (GET /cvms/{id}/state, text/event-stream) over ${CVMS} CVMs, a state change every ${CHANGE_EVERY_MS} ms, ${WINDOW_MS / 1000} s windows`);
  for (const row of r.rows) {
    console.log(
      `     ${String(row.streams).padStart(5)} streams   ${f1(row.xactsPerSec).padStart(7)} db transactions/s   hub state queries ${f1(row.hubQueriesPerSec).padStart(5)}/s` +
        `   state events ${f1(row.eventsPerSec).padStart(7)}/s   changes ${f1(row.changesPerSec)}/s`,
    );
  }
  const last = r.rows[r.rows.length - 1];
  console.log(
    `     db transactions/s at ${last.streams} streams ${f1(last.xactsPerSec)} <= at ${r.rows[0].streams} streams × ${MARGIN.factor} + ${MARGIN.plus} = ${f1(r.limit)}   ${r.pass ? 'PASS' : 'MISS'}`,
  );
}
