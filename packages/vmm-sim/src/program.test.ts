/**
 * `opencvm-vmm-sim` as a program: several simulated hosts of different sizes and regions, each its own
 * process started through the package's `bin` launcher, and every fault of the control API as a pRPC
 * client of that host sees it.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { rpc, startFakeKms, vmConfig, waitFor, type FakeKms } from './testkit.ts';

const launcher = fileURLToPath(new URL('../bin/opencvm-vmm-sim.js', import.meta.url));
const pkgJson = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

interface SimProc {
  url: string;
  /** The second stdout line (the host's description). */
  banner: string;
  child: ChildProcess;
  close(): Promise<void>;
}

/** Runs the launcher to completion (for --help and bad flags). */
function runToExit(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [launcher, ...args], {
      env: { ...process.env, NODE_TEST_CONTEXT: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

async function startProgram(args: string[], env: Record<string, string> = {}): Promise<SimProc> {
  const child = spawn(process.execPath, [launcher, '--port', '0', '--boot-ms', '200', '--shutdown-ms', '50', ...args], {
    env: { ...process.env, NODE_TEST_CONTEXT: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const lines = await new Promise<string[]>((resolve, reject) => {
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const ls = out.split('\n');
      if (ls.length >= 3) resolve(ls);
    });
    child.once('exit', (code) => reject(new Error(`opencvm-vmm-sim exited (${code}) before it listened: ${stderr}`)));
  });
  return {
    url: lines[0]!.trim(),
    banner: lines[1]!.trim(),
    child,
    async close() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

const authHeaders = (token?: string): Record<string, string> => (token ? { Authorization: `Bearer ${token}` } : {});

/** A pRPC call to one of the programs (with its auth token, if given). */
function prpc(sim: SimProc, method: string, body: unknown = {}, token?: string) {
  return rpc(sim.url, method, body, { headers: authHeaders(token) });
}

async function control(sim: SimProc, method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${sim.url}${path}`, {
    method,
    headers: { 'Content-Type': 'application/json', ...authHeaders(token) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: res.headers.get('content-type') === 'application/json' ? JSON.parse(text) : text };
}

describe('the program: flags', () => {
  test('the package declares the bin; --help prints usage and exits 0', async () => {
    assert.equal(pkgJson.bin['opencvm-vmm-sim'], './bin/opencvm-vmm-sim.js');
    const r = await runToExit(['--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^usage: opencvm-vmm-sim/);
    for (const flag of ['--port', '--host', '--name', '--vcpu', '--memory', '--disk', '--slots', '--region', '--data-dir', '--kms-url', '--kms-token', '--auth-token', '--boot-ms', '--device-id']) {
      assert.ok(r.stdout.includes(flag), flag);
    }
  });

  test('a bad flag or value: one stderr line naming it, exit 2', async () => {
    const cases: [string[], Record<string, string>, RegExp][] = [
      [['--cpus', '4'], {}, /unknown flag --cpus/],
      [['--vcpu', 'four'], {}, /--vcpu must be an integer/],
      [['--memory', '0'], {}, /--memory must be an integer >= 1/],
      [['--port', '70000'], {}, /--port must be an integer from 0 to 65535/],
      [['--device-id', 'abc'], {}, /--device-id must be 64 hex/],
      [['--kms-url', 'not a url'], {}, /--kms-url must be http\(s\) URLs/],
      [['--slots'], {}, /--slots needs a value/],
      [[], { VMM_SIM_DISK: '-5' }, /VMM_SIM_DISK must be an integer/],
    ];
    for (const [args, env, message] of cases) {
      const r = await runToExit(args, env);
      assert.equal(r.code, 2, args.join(' '));
      assert.equal(r.stdout, '');
      const lines = r.stderr.trimEnd().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0]!, message);
    }
  });
});

describe('three hosts of different sizes and regions, each a process', () => {
  const sims: SimProc[] = [];
  before(async () => {
    const started = await Promise.all([
      startProgram(['--name', 'small-eu', '--region', 'eu-west', '--vcpu', '4', '--memory', '8192', '--disk', '100', '--slots', '2']),
      startProgram(['--name', 'mid-us', '--region', 'us-east', '--vcpu', '16', '--memory', '32768', '--disk', '500']),
      // The environment gives the size, a flag overrides one of them.
      startProgram(['--vcpu', '64'], {
        VMM_SIM_NAME: 'big-ap',
        VMM_SIM_REGION: 'ap-south',
        VMM_SIM_VCPU: '8',
        VMM_SIM_MEMORY: '262144',
        VMM_SIM_DISK: '4000',
        VMM_SIM_SLOTS: '100',
      }),
    ]);
    sims.push(...started);
  });
  after(async () => {
    await Promise.all(sims.map((s) => s.close()));
  });

  test('each answers on its own URL with its own capacity in GetMeta and its region on /sim/host', async () => {
    assert.equal(new Set(sims.map((s) => s.url)).size, 3);
    const expected = [
      { name: 'small-eu', region: 'eu-west', slots: 2, vcpu: 4, memory: 8192, disk: 100 },
      { name: 'mid-us', region: 'us-east', slots: 64, vcpu: 16, memory: 32768, disk: 500 },
      { name: 'big-ap', region: 'ap-south', slots: 100, vcpu: 64, memory: 262144, disk: 4000 },
    ];
    for (const [i, sim] of sims.entries()) {
      const want = expected[i]!;
      assert.match(sim.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.match(sim.banner, new RegExp(`^vmm-sim ${want.name} region=${want.region} `));
      const meta = await prpc(sim, 'GetMeta');
      assert.equal(meta.status, 200);
      assert.deepEqual(meta.body.resources, {
        max_cvm_number: want.slots,
        max_allocable_vcpu: want.vcpu,
        max_allocable_memory_in_mb: want.memory,
        max_disk_size_in_gb: want.disk,
      });
      assert.equal('region' in meta.body, false, 'GetMeta has no region field');
      const info = await control(sim, 'GET', '/sim/host');
      assert.equal(info.body.name, want.name);
      assert.equal(info.body.region, want.region);
    }
  });

  test('the capacity is what CreateVm enforces', async () => {
    const small = sims[0]!;
    const tooBig = await prpc(small, 'CreateVm', vmConfig({ name: 'too-big', vcpu: 5, stopped: true }));
    assert.equal(tooBig.status, 400);
    assert.match(tooBig.body.error, /requested 5 vCPU, but only 4 of 4 are free/);
    const fits = await prpc(sims[1]!, 'CreateVm', vmConfig({ name: 'fits', vcpu: 5, stopped: true }));
    assert.equal(fits.status, 200);
    assert.equal((await prpc(small, 'CreateVm', vmConfig({ name: 'a', stopped: true }))).status, 200);
    assert.equal((await prpc(small, 'CreateVm', vmConfig({ name: 'b', vcpu: 1, stopped: true }))).status, 200);
    const third = await prpc(small, 'CreateVm', vmConfig({ name: 'c', vcpu: 1, stopped: true }));
    assert.equal(third.status, 400);
    assert.match(third.body.error, /maximum of 2 CVMs/);
  });
});

describe('faults over the control API, as a pRPC client sees them', () => {
  const token = 'sim-admin-token';
  let kms: FakeKms;
  let sim: SimProc;
  let other: SimProc;
  let dataDir: string;
  const call = (method: string, body: unknown = {}) => prpc(sim, method, body, token);
  const fault = async (spec: Record<string, unknown>): Promise<any> => {
    const r = await control(sim, 'POST', '/sim/faults', spec, token);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body;
  };
  const clearAll = async (): Promise<void> => {
    assert.equal((await control(sim, 'DELETE', '/sim/faults', undefined, token)).status, 200);
  };

  before(async () => {
    kms = await startFakeKms();
    dataDir = mkdtempSync(join(tmpdir(), 'vmm-sim-program-'));
    [sim, other] = await Promise.all([
      startProgram(['--name', 'faulty', '--region', 'eu-west', '--data-dir', dataDir, '--kms-url', kms.url, '--kms-token', kms.token], {
        VMM_SIM_AUTH_TOKEN: token,
      }),
      startProgram(['--name', 'healthy', '--kms-url', kms.url, '--kms-token', kms.token]),
    ]);
  });
  after(async () => {
    await Promise.all([sim?.close(), other?.close()]);
    await kms?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('the control API needs the auth token when one is set; bad fault specs are refused', async () => {
    assert.equal((await control(sim, 'GET', '/sim/faults')).status, 401);
    assert.equal((await control(sim, 'POST', '/sim/faults', { kind: 'drop' })).status, 401);
    assert.equal((await control(sim, 'POST', '/sim/restart', {})).status, 401);
    const bad = await control(sim, 'POST', '/sim/faults', { kind: 'latency' }, token);
    assert.equal(bad.status, 400);
    assert.match(bad.body.error, /needs "ms"/);
    const badKind = await control(sim, 'POST', '/sim/faults', { kind: 'explode' }, token);
    assert.equal(badKind.status, 400);
    assert.match(badKind.body.error, /"kind" must be one of/);
    assert.deepEqual((await control(sim, 'GET', '/sim/faults', undefined, token)).body, { faults: [], held: 0 });
  });

  test('latency: the answer comes after at least the added delay, for that method only until cleared', async () => {
    const f = await fault({ kind: 'latency', method: 'Version', ms: 400 });
    assert.equal(f.kind, 'latency');
    for (let i = 0; i < 2; i++) {
      const t0 = Date.now();
      const r = await call('Version');
      assert.equal(r.status, 200);
      assert.ok(Date.now() - t0 >= 400, `answered after ${Date.now() - t0} ms`);
    }
    const listed = (await control(sim, 'GET', '/sim/faults', undefined, token)).body.faults;
    assert.deepEqual(listed.map((x: any) => [x.id, x.kind, x.method, x.ms, x.remaining]), [[f.id, 'latency', 'Version', 400, null]]);
    assert.equal((await control(sim, 'DELETE', `/sim/faults/${f.id}`, undefined, token)).body.cleared, 1);
    assert.equal((await control(sim, 'DELETE', `/sim/faults/${f.id}`, undefined, token)).status, 404);
  });

  test('5xx: N times for one method, then normal; for every method until cleared', async () => {
    await fault({ kind: 'status', method: 'Status', status: 503, times: 2 });
    assert.equal((await call('Status')).status, 503);
    assert.equal((await call('GetMeta')).status, 200, 'another method is not affected');
    assert.equal((await call('Status')).status, 503);
    assert.equal((await call('Status')).status, 200);

    await fault({ kind: 'status' });
    for (const m of ['Version', 'GetMeta', 'Status', 'CreateVm']) assert.equal((await call(m)).status, 500, m);
    assert.equal((await prpc(other, 'Version')).status, 200, 'the other host is not affected');
    await clearAll();
    assert.equal((await call('Version')).status, 200);
  });

  test('dropped connection: the socket closes without an answer', async () => {
    await fault({ kind: 'drop', method: 'GetMeta', times: 1 });
    await assert.rejects(call('GetMeta'), (err: Error) => err instanceof TypeError);
    assert.equal((await call('GetMeta')).status, 200);
  });

  test('refusing CreateVm: a pRPC error with the message, until cleared, and no VM is made', async () => {
    await fault({ kind: 'error', method: 'CreateVm', error: 'simulated: no room on this host' });
    for (let i = 0; i < 2; i++) {
      const r = await call('CreateVm', vmConfig({ name: `refused-${i}`, stopped: true }));
      assert.equal(r.status, 400);
      assert.deepEqual(r.body, { error: 'simulated: no room on this host' });
    }
    assert.equal((await call('Status', {})).body.total, 0);
    await clearAll();
    assert.equal((await call('CreateVm', vmConfig({ name: 'accepted', stopped: true }))).status, 200);
    const status = (await call('Status', {})).body;
    assert.deepEqual(status.vms.map((v: any) => v.name), ['accepted']);
    assert.equal((await call('RemoveVm', { id: status.vms[0].id })).status, 200);
    await waitFor(async () => (await call('Status', {})).body.total === 0, 'the VM removed');
  });

  test('an answer lost after the call took effect (after: true): the VM exists though the caller got nothing', async () => {
    await fault({ kind: 'drop', method: 'CreateVm', after: true, times: 1 });
    await assert.rejects(call('CreateVm', vmConfig({ name: 'lost-answer', stopped: true })));
    const status = (await call('Status', {})).body;
    assert.deepEqual(status.vms.map((v: any) => v.name), ['lost-answer']);
    assert.equal((await call('RemoveVm', { id: status.vms[0].id })).status, 200);
    await waitFor(async () => (await call('Status', {})).body.total === 0, 'the VM removed');
  });

  test('hang: no answer until the fault is cleared, other methods still answer', async () => {
    const f = await fault({ kind: 'hang', method: 'Status' });
    let answered = false;
    const pending = call('Status', {}).then((r) => {
      answered = true;
      return r;
    });
    await waitFor(async () => (await control(sim, 'GET', '/sim/faults', undefined, token)).body.held === 1, 'the call held');
    assert.equal((await call('Version')).status, 200);
    assert.equal(answered, false);
    assert.equal((await control(sim, 'DELETE', `/sim/faults/${f.id}`, undefined, token)).status, 200);
    const r = await pending;
    assert.equal(r.status, 200);
    assert.equal(r.body.total, 0);
  });

  test('restart (vms: wipe): every VM and its persisted state is gone; the process keeps answering', async () => {
    const running = (await call('CreateVm', vmConfig({ name: 'will-vanish' }))).body.id;
    const stopped = (await call('CreateVm', vmConfig({ name: 'stopped-too', stopped: true }))).body.id;
    await waitFor(async () => {
      const info = (await call('GetInfo', { id: running })).body;
      return info.info?.status === 'running' && info.info.boot_progress === 'done';
    }, 'the VM booted');
    const persisted = () => JSON.parse(readFileSync(join(dataDir, 'vmm-sim.json'), 'utf8')).vms.map((v: any) => v.id).sort();
    assert.deepEqual(persisted(), [running, stopped].sort());

    const r = await control(sim, 'POST', '/sim/restart', {}, token);
    assert.equal(r.status, 200);
    assert.equal(r.body.vms_before, 2);
    assert.equal(r.body.vms_after, 0);
    const status = (await call('Status', {})).body;
    assert.equal(status.total, 0);
    assert.deepEqual(status.vms, []);
    for (const id of [running, stopped]) {
      const info = (await call('GetInfo', { id })).body;
      assert.equal(info.found, false);
      assert.equal(info.info, null);
      const start = await call('StartVm', { id });
      assert.equal(start.status, 400);
      assert.match(start.body.error, /not found/);
    }
    assert.deepEqual(persisted(), []);
    assert.equal(sim.child.exitCode, null, 'the process still runs');
  });

  test('restart (vms: stopped): the VMs stay, stopped', async () => {
    const id = (await call('CreateVm', vmConfig({ name: 'survivor' }))).body.id;
    await waitFor(async () => (await call('GetInfo', { id })).body.info?.status === 'running', 'the VM running');
    const r = await control(sim, 'POST', '/sim/restart', { vms: 'stopped' }, token);
    assert.deepEqual(r.body, { vms_before: 1, vms_after: 1 });
    const info = (await call('GetInfo', { id })).body;
    assert.equal(info.found, true);
    assert.equal(info.info.status, 'stopped');
    assert.equal((await call('StartVm', { id })).status, 200);
    await waitFor(async () => (await call('GetInfo', { id })).body.info?.boot_progress === 'done', 'the VM booted again');
    const bad = await control(sim, 'POST', '/sim/restart', { vms: 'sometimes' }, token);
    assert.equal(bad.status, 400);
  });
});
