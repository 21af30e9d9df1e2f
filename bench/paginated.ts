/**
 * `GET /cvms/paginated` with 100 000 CVMs in one workspace: p99 latency over random pages (target
 * ≤ 30 ms) and the server process's RSS at that size (target ≤ 250 MB).
 *
 * The server runs as its own process (`packages/server/src/main.ts`, as `npm start` runs it), so the
 * RSS is the server's alone (the embedded PostgreSQL's processes are not in it). The CVM rows are written
 * straight into its database (the API would take an hour to create them through hosts): the server is
 * started once to create its schema, workspace and node, stopped, seeded, and started again.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { openDatabase, type Db } from '../packages/server/src/db/index.ts';
import { freePort } from '../packages/server/src/db/embedded.ts';

export const PAGINATED_CVMS = 100_000;
const SAMPLES = 300;
const PAGE_SIZE = 50;
const MAIN = fileURLToPath(new URL('../packages/server/src/main.ts', import.meta.url));

export interface PaginatedResult {
  p50: number;
  p99: number;
  rssMb: number;
}


/** Start the server and wait until its simulated host is registered (its OS images are listed). */
async function startChild(env: NodeJS.ProcessEnv, port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  const until = Date.now() + 60_000;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
    try {
      const r = await fetch(`http://127.0.0.1:${port}/api/v1/os-images`, { headers: { 'x-api-key': env.OPENCVM_API_KEY! } });
      if (r.ok && ((await r.json()) as { items: unknown[] }).items.length) return child;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error('server did not come up within 60 s');
}

async function stopChild(child: ChildProcess) {
  if (child.exitCode !== null) return;
  const done = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await Promise.race([done, new Promise((r) => setTimeout(r, 15_000))]);
  if (child.exitCode === null) child.kill('SIGKILL');
}

/** Insert `n` live CVMs (and their apps) into the bootstrap workspace, 20 000 at a time. */
async function seed(db: Db, n: number) {
  const [{ id: ws }] = await db.query<{ id: number }>(`SELECT id FROM workspaces WHERE slug = 'default'`);
  const [{ id: node }] = await db.query<{ id: number }>(`SELECT id FROM nodes ORDER BY id LIMIT 1`);
  const [{ id: kms }] = await db.query<{ id: string }>(`SELECT id FROM kms_instances ORDER BY id LIMIT 1`);
  const [{ id: user }] = await db.query<{ id: number }>(`SELECT id FROM users WHERE username = 'admin'`);
  const [{ name: image }] = await db.query<{ name: string }>(`SELECT name FROM node_images WHERE node_id = $1 ORDER BY name LIMIT 1`, [node]);
  const compose = JSON.stringify({
    allowed_envs: [], docker_compose_file: 'services:\n  web:\n    image: nginx\n', features: ['kms', 'tproxy-net'],
    gateway_enabled: true, kms_enabled: true, manifest_version: 2, name: 'bench', public_logs: true, public_sysinfo: true,
    runner: 'docker-compose', storage_fs: 'zfs',
  });
  for (let start = 1; start <= n; start += 20_000) {
    const end = Math.min(n, start + 19_999);
    await db.tx(async (q) => {
      await q.query(
        `INSERT INTO apps (app_id, workspace_id, name, kms_id, env_pubkey)
         SELECT lpad(to_hex(g), 40, '0'), $1, 'bench-' || g, $2, repeat('ab', 32) FROM generate_series($3::int, $4::int) g`,
        [ws, kms, start, end],
      );
      await q.query(
        `INSERT INTO cvms (vm_uuid, workspace_id, creator_id, app_id, name, status, node_id, kms_id, instance_type, vcpu,
                           memory_mb, disk_gb, image, compose_hash, app_compose, listed, instance_id, started_at)
         SELECT gen_random_uuid(), $1, $2, lpad(to_hex(g), 40, '0'), 'bench-' || g, 'running', $3, $4, 'tdx.small', 1, 2048, 20,
                $5, repeat('cd', 32), $6, false, lpad(to_hex(g), 40, 'f'), now()
           FROM generate_series($7::int, $8::int) g`,
        [ws, user, node, kms, image, compose, start, end],
      );
    });
  }
  // PostgreSQL: what autovacuum does within a minute of a bulk insert (its insert threshold is 1000 rows + 20 %):
  // statistics, and the visibility map the page query's index-only scan relies on. The bench measures that
  // steady state, not the minute after the insert. A VACUUM cannot mark a page all-visible while another
  // transaction that started before the rows were committed is still running (an autovacuum ANALYZE that
  // started during the insert, say), so it is repeated until the map covers the table.
  await db.exec('VACUUM ANALYZE');
  for (let i = 0; i < 60; i++) {
    const [t] = await db.query<{ pages: number; visible: number }>(`SELECT relpages AS pages, relallvisible AS visible FROM pg_class WHERE relname = 'cvms'`);
    if (t.visible >= t.pages) break;
    await new Promise((r) => setTimeout(r, 500));
    await db.exec('VACUUM cvms');
  }
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

export async function benchPaginated(databaseUrl?: string): Promise<PaginatedResult> {
  const dataDir = mkdtempSync(join(tmpdir(), 'opencvm-bench-pag-'));
  const port = await freePort();
  const apiKey = 'phak_bench_paginated_key_0123456789abcdef';
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    PORT: String(port),
    HOST: '127.0.0.1',
    OPENCVM_DATA_DIR: dataDir,
    OPENCVM_API_KEY: apiKey,
    LOG_LEVEL: 'warn',
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
  };
  let child: ChildProcess | undefined;
  try {
    child = await startChild(env, port);
    await stopChild(child);
    const db = await openDatabase({ databaseUrl, dataDir });
    try {
      await seed(db, PAGINATED_CVMS);
    } finally {
      await db.close();
    }
    child = await startChild(env, port);
    const pages = Math.ceil(PAGINATED_CVMS / PAGE_SIZE);
    const get = async (page: number) => {
      const r = await fetch(`http://127.0.0.1:${port}/api/v1/cvms/paginated?page=${page}&page_size=${PAGE_SIZE}`, {
        headers: { 'x-api-key': apiKey },
      });
      const body = (await r.json()) as { items?: unknown[]; total?: number };
      if (r.status !== 200 || body.items?.length !== PAGE_SIZE || body.total !== PAGINATED_CVMS) {
        throw new Error(`page ${page}: HTTP ${r.status}, ${body.items?.length} items, total ${body.total}`);
      }
    };
    for (let i = 0; i < 20; i++) await get(1 + Math.floor(Math.random() * pages)); // warm-up
    const times: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      const page = 1 + Math.floor(Math.random() * pages);
      const t0 = performance.now();
      await get(page);
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    const q = (p: number) => times[Math.min(times.length - 1, Math.floor(p * times.length))];
    return { p50: q(0.5), p99: q(0.99), rssMb: rssMb(child.pid!) };
  } finally {
    if (child) await stopChild(child);
    rmSync(dataDir, { recursive: true, force: true });
  }
}
