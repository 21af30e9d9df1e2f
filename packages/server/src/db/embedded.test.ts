/**
 * The embedded PostgreSQL (`embedded.ts`) on a data directory of its own: the first start creates the
 * cluster with a password kept 0600 and its log in a file; a postmaster left running by a killed process is
 * shut down before the next start (and data survives), unless a live server still runs it; a postmaster.pid
 * naming a dead or an unrelated process does not stop a start.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { alive, startEmbeddedPostgres, type EmbeddedPostgres } from './embedded.ts';

const holderTs = fileURLToPath(new URL('../testing/embedded-holder.ts', import.meta.url));
const dirs: string[] = [];
const clusters: EmbeddedPostgres[] = [];
const children: ChildProcess[] = [];

after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const c of clusters) await c.stop().catch(() => {});
  // a postmaster a failed test left behind
  for (const d of dirs) {
    const pidFile = join(d, 'pgdata', 'postmaster.pid');
    if (existsSync(pidFile)) {
      try {
        process.kill(Number(readFileSync(pidFile, 'utf8').split('\n')[0]), 'SIGQUIT');
      } catch {}
    }
    rmSync(d, { recursive: true, force: true });
  }
});

function dataDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'opencvm-embedded-'));
  dirs.push(d);
  return d;
}

async function start(dir: string): Promise<EmbeddedPostgres> {
  const c = await startEmbeddedPostgres({ dir: join(dir, 'pgdata'), passwordFile: join(dir, 'pgdata.password'), logFile: join(dir, 'postgres.log') });
  clusters.push(c);
  return c;
}

async function sql<T = any>(url: string, text: string): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(text)).rows;
  } finally {
    await c.end();
  }
}


/** The holder process: starts the cluster on `dir` and waits; resolves with the postmaster's pid. */
async function holder(dir: string): Promise<{ child: ChildProcess; pid: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', holderTs, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const pid = await new Promise<number>((resolve, reject) => {
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = /ready (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code, signal) => reject(new Error(`the holder exited (${signal ?? code}):\n${out}`)));
  });
  return { child, pid };
}

test('first start: a cluster in pgdata, its password 0600, PostgreSQL\'s log in postgres.log; stop ends the postmaster', { timeout: 120_000 }, async () => {
  const dir = dataDir();
  const c = await start(dir);
  assert.equal(statSync(join(dir, 'pgdata.password')).mode & 0o777, 0o600);
  assert.ok(existsSync(join(dir, 'pgdata', 'PG_VERSION')));
  assert.match(readFileSync(join(dir, 'postgres.log'), 'utf8'), /database system is ready to accept connections/);
  const [row] = await sql(c.url, `SELECT current_setting('fsync') AS fsync, current_setting('listen_addresses') AS listen, version() AS v`);
  assert.deepEqual([row.fsync, row.listen], ['on', '127.0.0.1'], 'durable, loopback only');
  assert.match(row.v, /^PostgreSQL 18\./);
  // the password is required: the same URL without it is refused
  const noPassword = new URL(c.url);
  noPassword.password = '';
  await assert.rejects(sql(noPassword.toString(), 'SELECT 1'));
  await c.stop();
  assert.equal(alive(c.pid), false, 'the postmaster ended');
  assert.equal(existsSync(join(dir, 'pgdata', 'postmaster.pid')), false, 'a clean shutdown');
});

test('a process killed with its postmaster running: the next start stops that one, starts, and the data is there; not while its server lives', { timeout: 120_000 }, async () => {
  const dir = dataDir();
  const first = await holder(dir);
  const url = (await start(dir).then(
    () => assert.fail('started over a postmaster that a live process runs'),
    (e: Error) => {
      assert.match(e.message, /run by another live process/);
      return null;
    },
  )) ?? '';
  assert.equal(url, '');
  assert.ok(alive(first.pid), 'the live server\'s postmaster was left alone');

  // write something through it, then kill its server with SIGKILL: the postmaster keeps running
  const password = readFileSync(join(dir, 'pgdata.password'), 'utf8').trim();
  const port = Number(readFileSync(join(dir, 'pgdata', 'postmaster.pid'), 'utf8').split('\n')[3]);
  await sql(`postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`, 'CREATE TABLE survivor AS SELECT 42 AS answer');
  first.child.kill('SIGKILL');
  await new Promise((r) => first.child.once('exit', r));
  assert.ok(alive(first.pid), 'the postmaster outlived its server');

  const c = await start(dir);
  assert.notEqual(c.pid, first.pid);
  assert.equal(alive(first.pid), false, 'the left-over postmaster was stopped');
  assert.deepEqual(await sql(c.url, 'SELECT answer FROM survivor'), [{ answer: 42 }]);
  assert.match(readFileSync(join(dir, 'postgres.log'), 'utf8'), new RegExp(`stopping PostgreSQL pid ${first.pid}, left running`));
  await c.stop();
});

test('a postmaster.pid naming a dead process, or a live process that is not this cluster\'s postmaster, does not stop a start', { timeout: 120_000 }, async () => {
  const dir = dataDir();
  const c = await start(dir);
  await c.stop();
  const pidFile = join(dir, 'pgdata', 'postmaster.pid');

  const dead = spawnSync('true').pid;
  writeFileSync(pidFile, `${dead}\n${join(dir, 'pgdata')}\n0\n1\n\n\n\nstopped\n`);
  const again = await start(dir);
  await again.stop();

  const unrelated = spawn('sleep', ['60'], { stdio: 'ignore' });
  children.push(unrelated);
  writeFileSync(pidFile, `${unrelated.pid}\n${join(dir, 'pgdata')}\n0\n1\n\n\n\nstopped\n`);
  const third = await start(dir);
  assert.ok(alive(unrelated.pid!), 'the unrelated process was left alone');
  await third.stop();
  unrelated.kill('SIGKILL');
});
