/** HTTP surface: auth, pRPC wire conventions, logs (incl. follow), simulator-only routes. */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { booted, call, rpc, startFakeKms, startTestSim, vmConfig, waitFor, waitVm, type FakeKms } from './testkit.ts';
import type { VmmSim } from './types.ts';

let kms: FakeKms;
let sim: VmmSim;

before(async () => {
  kms = await startFakeKms();
  sim = await startTestSim(kms);
});
after(async () => {
  await sim.close();
  await kms.close();
});

describe('auth', () => {
  let secured: VmmSim;
  const token = 'admin-token-123';
  before(async () => {
    secured = await startTestSim(kms, { authToken: token });
  });
  after(() => secured.close());

  test('every route needs the token; 401 carries WWW-Authenticate', async () => {
    for (const path of ['/prpc/Version?json', '/guest/Info?json', '/logs?id=x', '/sim/vms', '/']) {
      const res = await fetch(`${secured.url}${path}`);
      assert.equal(res.status, 401, path);
      assert.equal(res.headers.get('www-authenticate'), 'Basic realm="dstack-vmm API"');
    }
    const wrong = await rpc(secured.url, 'Version', {}, { headers: { Authorization: 'Bearer nope' } });
    assert.equal(wrong.status, 401);
  });

  test('Bearer, X-Admin-Token, Basic and ?token= (GET only) are accepted', async () => {
    assert.equal((await rpc(secured.url, 'Version', {}, { headers: { Authorization: `Bearer ${token}` } })).status, 200);
    assert.equal((await rpc(secured.url, 'Version', {}, { headers: { 'X-Admin-Token': token } })).status, 200);
    const basic = `Basic ${Buffer.from(`admin:${token}`).toString('base64')}`;
    assert.equal((await rpc(secured.url, 'Version', {}, { headers: { Authorization: basic } })).status, 200);
    const get = await fetch(`${secured.url}/prpc/Version?token=${token}`);
    assert.equal(get.status, 200);
    assert.equal((await get.json()).version, '0.5.8-sim');
    const post = await fetch(`${secured.url}/prpc/Version?json&token=${token}`, { method: 'POST' });
    assert.equal(post.status, 401);
  });
});

describe('pRPC wire conventions', () => {
  test('GET reads the request from the query string; Teepod. prefix is stripped; response headers', async () => {
    const created = await call(sim.url, 'CreateVm', vmConfig({ name: 'q-vm', stopped: true }));
    const res = await fetch(`${sim.url}/prpc/Teepod.Status?ids[0]=${created.id}&brief=true`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-app-version'), '0.5.8-sim');
    assert.equal(res.headers.get('x-accel-buffering'), 'no');
    const body = await res.json();
    assert.equal(body.total, 1);
    assert.equal(body.vms[0].name, 'q-vm');
    assert.equal(body.vms[0].configuration, null);
    const info = await (await fetch(`${sim.url}/prpc/GetInfo?id=${created.id}`)).json();
    assert.equal(info.info.status, 'stopped');
    await call(sim.url, 'RemoveVm', { id: created.id });
  });

  test('Status: creation order, keyword, ids, page / page_size (1-based; 0 = all)', async () => {
    const paged = await startTestSim(kms);
    try {
      const ids: string[] = [];
      for (const name of ['alpha', 'beta', 'gamma']) {
        ids.push((await call(paged.url, 'CreateVm', vmConfig({ name, stopped: true }))).id);
      }
      const all = await call(paged.url, 'Status', {});
      assert.deepEqual(all.vms.map((v: any) => v.id), ids);
      assert.equal(all.total, 3);
      const page2 = await call(paged.url, 'Status', { page: 2, page_size: 2, brief: true });
      assert.deepEqual([page2.vms.map((v: any) => v.name), page2.total], [['gamma'], 3]);
      const kw = await call(paged.url, 'Status', { keyword: 'et' });
      assert.deepEqual([kw.vms.map((v: any) => v.name), kw.total], [['beta'], 1]);
      const byImage = await call(paged.url, 'Status', { keyword: 'dstack-0.5.8' });
      assert.equal(byImage.total, 3);
      const some = await call(paged.url, 'Status', { ids: [ids[2], ids[0]] });
      assert.deepEqual(some.vms.map((v: any) => v.name), ['alpha', 'gamma']);
    } finally {
      await paged.close();
    }
  });

  test('empty body = default request; content-type JSON without ?json works', async () => {
    const res = await fetch(`${sim.url}/prpc/Status?json`, { method: 'POST' });
    assert.equal(res.status, 200);
    const st = await res.json();
    assert.ok(Array.isArray(st.vms));
    const ct = await fetch(`${sim.url}/prpc/Version`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: '{}',
    });
    assert.equal(ct.status, 200);
  });

  test('errors are HTTP 400 {"error"}; unknown methods too; protobuf mode gets a PrpcError', async () => {
    const unknown = await rpc(sim.url, 'NoSuchMethod', {});
    assert.equal(unknown.status, 400);
    assert.match(unknown.body.error, /NoSuchMethod/);
    const vmmPrefix = await rpc(sim.url, 'Vmm.Status', {});
    assert.equal(vmmPrefix.status, 400, '/prpc/Vmm.X is not stripped, as in dstack');
    const badJson = await fetch(`${sim.url}/prpc/Status?json`, { method: 'POST', body: '{nope' });
    assert.equal(badJson.status, 400);
    assert.ok(typeof (await badJson.json()).error === 'string');
    const badType = await rpc(sim.url, 'CreateVm', vmConfig({ vcpu: 'two' }));
    assert.equal(badType.status, 400);
    assert.match(badType.body.error, /vcpu/);
    const proto = await fetch(`${sim.url}/prpc/Version`, { method: 'POST', body: Buffer.from([0x08, 0x01]) });
    assert.equal(proto.status, 400);
    assert.equal(proto.headers.get('content-type'), 'application/octet-stream');
    const bytes = Buffer.from(await proto.arrayBuffer());
    assert.equal(bytes[0], 0x0a, 'field 1, length-delimited');
    assert.match(bytes.subarray(2).toString(), /JSON mode/);
  });

  test('request bodies over 10 MiB are refused', async () => {
    const big = JSON.stringify({ name: 'x', compose_file: 'a'.repeat(10 * 1024 * 1024 + 10) });
    const r = await fetch(`${sim.url}/prpc/GetComposeHash?json`, { method: 'POST', body: big });
    assert.equal(r.status, 400);
    assert.match((await r.json()).error, /limit/);
  });

  test('/guest errors: unknown VM, not yet booted', async () => {
    const unknown = await rpc(sim.url, 'Info', { id: 'nope' }, { prefix: 'guest' });
    assert.equal(unknown.status, 400);
    assert.match(unknown.body.error, /not found/);
    const { id } = await call(sim.url, 'CreateVm', vmConfig({ name: 'early' }));
    const early = await rpc(sim.url, 'Info', { id }, { prefix: 'guest' });
    assert.equal(early.status, 400);
    assert.match(early.body.error, /not ready|booting/);
    await waitVm(sim, id, booted, 'boot');
    assert.equal((await rpc(sim.url, 'Info', { id }, { prefix: 'guest' })).status, 200);
    // guest Shutdown = ShutdownVm
    await call(sim.url, 'Shutdown', { id }, 'guest');
    await waitVm(sim, id, (v) => v.status === 'stopped', 'stopped by guest Shutdown');
    await call(sim.url, 'RemoveVm', { id });
  });
});

describe('logs', () => {
  test('serial has boot lines and every progress step; stdout/stderr have container output; 404 for unknown ids', async () => {
    const { id } = await call(sim.url, 'CreateVm', vmConfig({ name: 'logs-vm' }));
    await waitVm(sim, id, booted, 'boot');
    const serial = await fetch(`${sim.url}/logs?id=${id}`);
    assert.equal(serial.status, 200);
    assert.match(serial.headers.get('content-type')!, /^text\/plain/);
    const text = await serial.text();
    assert.match(text, /Linux version/);
    for (const step of ['requesting app keys', 'data disk ready', 'starting containers', 'done']) {
      assert.ok(text.includes(`boot progress: ${step}`), step);
    }
    assert.ok(!text.includes('\x1b['), 'ANSI stripped by default');
    const ansi = await (await fetch(`${sim.url}/logs?id=${id}&ansi=true`)).text();
    assert.ok(ansi.includes('\x1b[0;32m'), 'ANSI kept with ansi=true');
    const two = await (await fetch(`${sim.url}/logs?id=${id}&lines=2`)).text();
    assert.equal(two.trimEnd().split('\n').length, 2);

    const stdout = await (await fetch(`${sim.url}/logs?id=${id}&ch=stdout`)).text();
    assert.match(stdout, /^web-1 {2}\| started nginx:latest$/m);
    assert.match(stdout, /^worker-1 {2}\| started busybox:1\.36$/m);
    const stderr = await (await fetch(`${sim.url}/logs?id=${id}&ch=stderr`)).text();
    assert.match(stderr, /Container app-compose-web-1 {2}Started/);

    assert.equal((await fetch(`${sim.url}/logs?id=nope`)).status, 404);
    assert.equal((await fetch(`${sim.url}/logs?id=${id}&ch=bogus`)).status, 400);
    await call(sim.url, 'RemoveVm', { id });
  });

  test('follow=true streams new lines and ends when the VM stops', async () => {
    const { id } = await call(sim.url, 'CreateVm', vmConfig({ name: 'follow-vm' }));
    let received = '';
    let ended = false;
    const done = new Promise<void>((resolve, reject) => {
      const req = request(`${sim.url}/logs?id=${id}&follow=true`, (res) => {
        assert.equal(res.statusCode, 200);
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (received += chunk));
        res.on('end', () => {
          ended = true;
          resolve();
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
    // Lines written after the request arrive on the open stream.
    await waitFor(() => received.includes('boot progress: done'), 'done line streamed');
    assert.equal(ended, false, 'the stream stays open while the VM runs');
    await call(sim.url, 'ShutdownVm', { id });
    await done;
    assert.ok(received.includes('shutdown progress: powering off'));
    assert.equal(sim.getVm(id)!.status, 'stopped');

    // Following a VM that is not running returns the tail and ends at once.
    const res = await fetch(`${sim.url}/logs?id=${id}&follow=true`);
    assert.ok((await res.text()).includes('boot progress: done'));
    await call(sim.url, 'RemoveVm', { id });
  });
});

describe('simulator-only routes', () => {
  test('GET /sim/vms and /sim/vms/<id>', async () => {
    const { id } = await call(sim.url, 'CreateVm', vmConfig({ name: 'view-vm', stopped: true }));
    const list = await (await fetch(`${sim.url}/sim/vms`)).json();
    assert.ok(list.some((v: any) => v.id === id && v.status === 'stopped'));
    const one = await (await fetch(`${sim.url}/sim/vms/${id}`)).json();
    assert.deepEqual(one, sim.getVm(id));
    assert.equal((await fetch(`${sim.url}/sim/vms/nope`)).status, 404);
    const bad = await fetch(`${sim.url}/sim/faults`, { method: 'POST', body: '{"method":1}' });
    assert.equal(bad.status, 400);
    await call(sim.url, 'RemoveVm', { id });
  });
});

describe('in-process fault API', () => {
  test('addFault / clearFaults / restart, and injectFault next to them', async () => {
    const own = await startTestSim(kms);
    try {
      const id = own.addFault({ kind: 'status', method: 'Version', status: 502 });
      own.injectFault({ method: 'GetMeta', error: 'meta unavailable' });
      assert.equal((await rpc(own.url, 'Version')).status, 502);
      assert.equal((await rpc(own.url, 'Version')).status, 502, 'until cleared');
      assert.deepEqual((await rpc(own.url, 'GetMeta')).body, { error: 'meta unavailable' });
      assert.equal((await rpc(own.url, 'GetMeta')).status, 200, 'injectFault: once by default');
      assert.equal(own.clearFaults(id), 1);
      assert.equal(own.clearFaults(id), 0);
      assert.equal((await rpc(own.url, 'Version')).status, 200);

      // A fault without a method never makes a boot fail; method "boot" does.
      own.addFault({ kind: 'error', error: 'every call fails', times: 1 });
      assert.equal((await rpc(own.url, 'CreateVm', vmConfig({ name: 'refused' }))).status, 400);
      const { id: vmId } = await call(own.url, 'CreateVm', vmConfig({ name: 'boots' }));
      await waitVm(own, vmId, booted, 'booted');

      assert.equal(own.restart('stopped'), 1);
      assert.equal(own.getVm(vmId)!.status, 'stopped');
      assert.equal(own.restart('reboot'), 1);
      assert.equal(own.getVm(vmId)!.status, 'stopped', 'a stopped VM stays stopped on reboot');
      await call(own.url, 'StartVm', { id: vmId });
      assert.equal(own.restart('reboot'), 1);
      await waitVm(own, vmId, booted, 'booted again after reboot');
      assert.equal(own.restart(), 1);
      assert.deepEqual(own.listVms(), []);
      assert.deepEqual(await call(own.url, 'GetInfo', { id: vmId }), { found: false, info: null });
    } finally {
      await own.close();
    }
  });
});
