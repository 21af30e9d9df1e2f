/**
 * The real `npm start` entry (`node --import tsx packages/server/src/main.ts`) as a child process:
 * health, the bootstrap key (printed once, saved 0600), OPENCVM_API_KEY, a CVM deployed through the
 * official SDK surviving `kill -9` of the whole process (the embedded PostgreSQL, simulated host and KMS root
 * keys on disk; the postmaster the killed server leaves running is stopped by the next start), and a clean
 * SIGTERM shutdown. Every child, and any postmaster one left, is stopped in `after`, whatever happened.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createClient } from '@phala/cloud';
import { waitFor } from './testing/wait.ts';
import { alive as isRunning, freePort } from './db/embedded.ts';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const mainTs = fileURLToPath(new URL('./main.ts', import.meta.url));

const composeYaml = `services:
  web:
    image: nginx:latest
    ports:
      - "80:80"
`;

interface Proc {
  child: ChildProcess;
  stdout: string;
  stderr: string;
  exit: { code: number | null; signal: NodeJS.Signals | null } | null;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  url: string;
}

const procs: Proc[] = [];
const dirs: string[] = [];


function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'opencvm-proc-'));
  dirs.push(d);
  return d;
}

/** The environment of `npm start`, without anything from ours that would change its configuration. */
function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env };
  for (const k of ['DATABASE_URL', 'OPENCVM_API_KEY', 'OPENCVM_HOSTS', 'OPENCVM_SIMULATED_HOST', 'OPENCVM_PUBLIC_URL', 'HOST', 'LOG_LEVEL', 'NODE_TEST_CONTEXT']) {
    delete e[k];
  }
  return { ...e, ...extra };
}

/** Start main.ts and wait until it answers /healthz and has printed its banner. */
async function start(dataDir: string, port: number, extra: Record<string, string> = {}): Promise<Proc> {
  const child = spawn(process.execPath, ['--import', 'tsx', mainTs], {
    cwd: repoRoot,
    env: childEnv({ PORT: String(port), OPENCVM_DATA_DIR: dataDir, OPENCVM_SIM_BOOT_MS: '300', ...extra }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const proc: Proc = {
    child,
    stdout: '',
    stderr: '',
    exit: null,
    exited: new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal }))),
    url: `http://127.0.0.1:${port}`,
  };
  proc.exited.then((e) => (proc.exit = e));
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (proc.stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (proc.stderr += d));
  procs.push(proc);

  const state = await waitFor(async () => {
    if (proc.exit) return 'exited';
    if (!proc.stdout.includes('opencvm API')) return null;
    const res = await fetch(`${proc.url}/healthz`);
    return res.status === 200 ? 'ready' : null;
  }, 60_000, 100);
  if (state === 'exited') {
    assert.fail(`main.ts exited (${JSON.stringify(proc.exit)}) before it was ready:\n${proc.stderr}\n${proc.stdout}`);
  }
  return proc;
}

/** Send `signal` and wait for the process to exit (a process that never does fails the test on its timeout). */
async function stop(proc: Proc, signal: NodeJS.Signals) {
  if (!proc.exit) proc.child.kill(signal);
  return proc.exited;
}

const sdk = (proc: Proc, apiKey: string) => createClient({ apiKey, baseURL: `${proc.url}/api/v1` });

async function getJson(proc: Proc, path: string, apiKey?: string) {
  const res = await fetch(`${proc.url}${path}`, { headers: apiKey ? { 'X-API-Key': apiKey } : {} });
  return { status: res.status, body: (await res.json()) as any };
}

after(async () => {
  for (const p of procs) {
    if (!p.exit) {
      p.child.kill('SIGKILL');
      await p.exited;
    }
  }
  for (const d of dirs) {
    // a postmaster a SIGKILLed server left running (a failed test never restarted it)
    const pid = postmasterPid(d);
    if (pid) {
      try {
        process.kill(pid, 'SIGQUIT');
      } catch {}
    }
    rmSync(d, { recursive: true, force: true });
  }
});

/** The pid in the embedded PostgreSQL's postmaster.pid, if there is one. */
function postmasterPid(dataDir: string): number | undefined {
  const file = join(dataDir, 'pgdata', 'postmaster.pid');
  return existsSync(file) ? Number(readFileSync(file, 'utf8').split('\n')[0]) : undefined;
}


// one data dir and one port across restarts, as an operator would run it
let dataDir: string;
let port: number;
let first: Proc;
let bootstrapKey: string;

before(async () => {
  dataDir = tempDir();
  port = await freePort();
});

test('first start: /healthz answers, the bootstrap key is printed once and saved with mode 0600', { timeout: 90_000 }, async () => {
  first = await start(dataDir, port);
  const health = await getJson(first, '/healthz');
  assert.equal(health.status, 200);
  assert.deepEqual(health.body, { status: 'ok' });

  const m = /Bootstrap API key \(shown once, also saved to (.+)\):\s+(phak_[A-Za-z0-9_-]+)/.exec(first.stdout);
  assert.ok(m, `no bootstrap key in the output:\n${first.stdout}`);
  bootstrapKey = m[2];
  const file = join(dataDir, 'api-key');
  assert.equal(m[1], file);
  assert.equal(first.stdout.split(bootstrapKey).length - 1, 1, 'the key is printed exactly once');
  assert.ok(!first.stderr.includes(bootstrapKey), 'the key is not on stderr');
  assert.equal(readFileSync(file, 'utf8'), `${bootstrapKey}\n`);
  assert.equal(statSync(file).mode & 0o777, 0o600, 'api-key file mode');
  assert.equal(statSync(join(dataDir, 'seal-key')).mode & 0o777, 0o600, 'seal-key file mode');

  const me = await getJson(first, '/api/v1/auth/me', bootstrapKey);
  assert.equal(me.status, 200);
  assert.equal(me.body.workspace.slug, 'default');
  assert.equal((await getJson(first, '/api/v1/auth/me')).status, 401);
});

let deployed: { name: string; vm_uuid: string; app_id: string; compose_hash: string; id: number; pubkey: string };
let pending: { app_id: string; compose_hash: string };

test('a CVM deployed through the SDK survives kill -9; the restart prints no key and keeps the data; SIGTERM exits 0', { timeout: 120_000 }, async () => {
  assert.ok(first && bootstrapKey, 'the first start must have succeeded');
  const c = sdk(first, bootstrapKey);
  const p = await c.provisionCvm({ name: 'survivor-app', compose_file: { docker_compose_file: composeYaml } });
  const vm = await c.commitCvmProvision({ app_id: p.app_id!, compose_hash: p.compose_hash });
  const running = await waitFor(async () => {
    const info = await c.getCvmInfo({ name: 'survivor-app' });
    return info.status === 'running' ? info : null;
  }, 20_000, 100);
  assert.equal(running.vm_uuid, vm.vm_uuid);
  deployed = { name: 'survivor-app', vm_uuid: vm.vm_uuid!, app_id: p.app_id!, compose_hash: p.compose_hash, id: vm.id, pubkey: p.app_env_encrypt_pubkey! };
  // a provision not yet committed when the process dies
  const p2 = await c.provisionCvm({ name: 'late-commit-app', compose_file: { docker_compose_file: composeYaml } });
  pending = { app_id: p2.app_id!, compose_hash: p2.compose_hash };

  const died = await stop(first, 'SIGKILL');
  assert.equal(died.signal, 'SIGKILL');
  // the killed server's PostgreSQL is still running on the data dir
  const leftOver = postmasterPid(dataDir);
  assert.ok(leftOver && isRunning(leftOver), 'the postmaster outlives a SIGKILLed server');

  const second = await start(dataDir, port);
  assert.equal(isRunning(leftOver), false, 'the next start stopped the left-over postmaster');
  assert.notEqual(postmasterPid(dataDir), leftOver);
  assert.ok(!second.stdout.includes('Bootstrap API key'), `a key was printed again:\n${second.stdout}`);
  assert.ok(!/phak_[A-Za-z0-9_-]{20,}/.test(second.stdout), 'a key appears in the output of the second start');
  assert.equal(readFileSync(join(dataDir, 'api-key'), 'utf8'), `${bootstrapKey}\n`, 'the key file is unchanged');

  const c2 = sdk(second, bootstrapKey);
  const me = await c2.getCurrentUser();
  assert.equal((me as any).workspace.slug, 'default');

  // the committed CVM, by name, with the data of its provision and commit
  const info = await c2.getCvmInfo({ name: 'survivor-app' });
  assert.equal(info.vm_uuid, deployed.vm_uuid);
  assert.equal(info.app_id, deployed.app_id);
  assert.equal(info.name, 'survivor-app');
  assert.equal(info.compose_hash, deployed.compose_hash);
  const raw = await getJson(second, '/api/v1/cvms/survivor-app', bootstrapKey);
  assert.equal(raw.status, 200);
  assert.equal(raw.body.vm_uuid, deployed.vm_uuid);
  const legacy = (await c2.withVersion('2025-10-28').get(`/cvms/${deployed.id}`)) as any;
  assert.equal(legacy.id, deployed.id);
  assert.equal(legacy.encrypted_env_pubkey, deployed.pubkey, 'the same KMS root key derives the same app key');
  const signed = await c2.getAppEnvEncryptPubKey({ kms: 'phala', app_id: deployed.app_id });
  assert.equal(signed.public_key, deployed.pubkey);
  // the simulated host reboots it and it comes back to running
  await waitFor(async () => ((await c2.getCvmInfo({ name: 'survivor-app' })).status === 'running' ? true : null), 20_000, 100);

  // the provision made before the crash can still be committed; the committed one cannot be again
  const again = await c2.safeCommitCvmProvision({ app_id: deployed.app_id, compose_hash: deployed.compose_hash });
  assert.equal(again.success, false);
  assert.equal((again as any).error.errorCode, 'ERR-01-006');
  const late = await c2.commitCvmProvision({ app_id: pending.app_id, compose_hash: pending.compose_hash });
  assert.equal(late.name, 'late-commit-app');
  await waitFor(async () => ((await c2.getCvmInfo({ id: late.vm_uuid! })).status === 'running' ? true : null), 20_000, 100);

  // SIGTERM: the process exits by itself, cleanly, with code 0
  const exit = await stop(second, 'SIGTERM');
  assert.deepEqual(exit, { code: 0, signal: null }, second.stderr);
  assert.match(second.stdout, /SIGTERM: shutting down/);
  await assert.rejects(fetch(`${second.url}/healthz`), 'the port is closed after SIGTERM');
  assert.equal(existsSync(join(dataDir, 'pgdata', 'postmaster.pid')), false, 'SIGTERM stopped PostgreSQL too');
  // nothing of PostgreSQL's log reached the server's output
  assert.doesNotMatch(second.stdout + second.stderr, /database system is|checkpoint/);
});

test('with OPENCVM_API_KEY set, that key works (and is never printed)', { timeout: 120_000 }, async () => {
  assert.ok(bootstrapKey, 'the first start must have succeeded');
  const customKey = `phak_custom_${randomBytes(24).toString('base64url')}`;

  // on the existing data dir: both the custom key and the bootstrap key work
  const third = await start(dataDir, port, { OPENCVM_API_KEY: customKey });
  assert.ok(!third.stdout.includes('Bootstrap API key'));
  assert.ok(!third.stdout.includes(customKey) && !third.stderr.includes(customKey), 'the configured key is printed');
  const me = await getJson(third, '/api/v1/auth/me', customKey);
  assert.equal(me.status, 200, JSON.stringify(me.body));
  assert.equal(me.body.workspace.slug, 'default');
  assert.equal((await sdk(third, customKey).getCvmInfo({ name: 'survivor-app' })).vm_uuid, deployed?.vm_uuid);
  assert.equal((await getJson(third, '/api/v1/auth/me', bootstrapKey)).status, 200);
  assert.equal((await getJson(third, '/api/v1/auth/me', `${customKey}x`)).status, 401);
  assert.deepEqual(await stop(third, 'SIGTERM'), { code: 0, signal: null }, third.stderr);

  // on a fresh data dir: no key is generated, none is printed or saved, and the configured key works
  const freshDir = tempDir();
  const fresh = await start(freshDir, await freePort(), { OPENCVM_API_KEY: customKey });
  assert.ok(!fresh.stdout.includes('Bootstrap API key'), `a key was generated:\n${fresh.stdout}`);
  assert.ok(!fresh.stdout.includes(customKey) && !fresh.stderr.includes(customKey), 'the configured key is printed');
  assert.equal(existsSync(join(freshDir, 'api-key')), false, 'no api-key file without a generated key');
  const freshMe = await getJson(fresh, '/api/v1/auth/me', customKey);
  assert.equal(freshMe.status, 200, JSON.stringify(freshMe.body));
  assert.equal((await getJson(fresh, '/api/v1/auth/me', bootstrapKey)).status, 401, 'another data dir\'s key works here');
  assert.deepEqual(await stop(fresh, 'SIGTERM'), { code: 0, signal: null }, fresh.stderr);
});
