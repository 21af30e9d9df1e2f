/** dataDir: VM records survive a restart; VMs that should run boot again; guest RAM state is rebuilt. */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { encryptEnv } from '@opencvm/core';
import { booted, call, startFakeKms, startTestSim, vmConfig, waitFor, waitVm, type FakeKms } from './testkit.ts';

let kms: FakeKms;
let dataDir: string;

before(async () => {
  kms = await startFakeKms();
  dataDir = mkdtempSync(join(tmpdir(), 'vmm-sim-test-'));
});
after(async () => {
  await kms.close();
  rmSync(dataDir, { recursive: true, force: true });
});

test('VMs persist across a restart; running ones boot again with the same instance id', async () => {
  const env = encryptEnv([{ key: 'FOO', value: 'persisted secret' }], kms.envPublicKeyHex);
  let sim = await startTestSim(kms, { dataDir });
  const running = (await call(sim.url, 'CreateVm', vmConfig({ name: 'keeps-running', encrypted_env: env }))).id;
  const stopped = (await call(sim.url, 'CreateVm', vmConfig({ name: 'stays-stopped', stopped: true }))).id;
  const removed = (await call(sim.url, 'CreateVm', vmConfig({ name: 'removed', stopped: true }))).id;
  const first = await waitVm(sim, running, booted, 'first boot');
  await call(sim.url, 'RemoveVm', { id: removed });
  await call(sim.url, 'UpdateVm', { id: stopped, user_config: 'cfg-v2' });
  await sim.close();

  const file = JSON.parse(readFileSync(join(dataDir, 'vmm-sim.json'), 'utf8'));
  assert.deepEqual(
    file.vms.map((v: any) => [v.name, v.started]),
    [
      ['keeps-running', true],
      ['stays-stopped', false],
    ],
  );
  assert.ok(!JSON.stringify(file).includes('persisted secret'), 'no decrypted env on disk');
  assert.deepEqual(readdirSync(dataDir), ['vmm-sim.json'], 'no temp files left');

  const requests = kms.keyRequests.length;
  sim = await startTestSim(kms, { dataDir });
  try {
    assert.deepEqual(
      sim.listVms().map((v) => v.name),
      ['keeps-running', 'stays-stopped'],
    );
    assert.equal(sim.getVm(running)!.status, 'running');
    assert.equal(sim.getVm(running)!.guest.env, null, 'guest state is rebuilt by booting');
    const again = await waitVm(sim, running, booted, 'boot after restart');
    assert.deepEqual(again.guest.env, { FOO: 'persisted secret' });
    assert.equal(again.instanceId, first.instanceId);
    assert.equal(again.appId, first.appId);
    assert.equal(kms.keyRequests.length, requests + 1);

    const st = sim.getVm(stopped)!;
    assert.equal(st.status, 'stopped');
    assert.equal(st.configuration.user_config, 'cfg-v2');
    const status = await call(sim.url, 'Status', {});
    assert.deepEqual(
      status.vms.map((v: any) => v.id),
      [running, stopped],
      'creation order is kept',
    );

    // A stop is persisted too.
    await call(sim.url, 'StopVm', { id: running });
  } finally {
    await sim.close();
  }
  sim = await startTestSim(kms, { dataDir });
  try {
    await waitFor(() => sim.listVms().length === 2, 'load');
    assert.equal(sim.getVm(running)!.status, 'stopped');
  } finally {
    await sim.close();
  }
});
