/** `GET /sim/calls`: the pRPC calls that reached the host, with their arrival time on this machine's clock. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { call, startFakeKms, startTestSim, vmConfig, type FakeKms } from './testkit.ts';
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

type Calls = { calls: { method: string; name: string | null; at_ms: number }[] };
const calls = async (query = '') => (await (await fetch(`${sim.url}/sim/calls${query}`)).json()) as Calls;

test('each decoded call is recorded with its method, VM name or id and arrival time; ?method= filters; DELETE clears', async () => {
  const sent = performance.timeOrigin + performance.now();
  const created = await call(sim.url, 'CreateVm', vmConfig({ name: 'logged-1', stopped: true }));
  const id = (created as { id: string }).id;
  await call(sim.url, 'GetInfo', { id });
  const answered = performance.timeOrigin + performance.now();

  const creates = (await calls('?method=CreateVm')).calls;
  assert.equal(creates.length, 1);
  assert.equal(creates[0].name, 'logged-1');
  // the same clock as this process: between the send and the answer
  assert.ok(creates[0].at_ms >= sent && creates[0].at_ms <= answered, `${sent} <= ${creates[0].at_ms} <= ${answered}`);
  const all = (await calls()).calls;
  assert.deepEqual(all.map((c) => [c.method, c.name]), [['CreateVm', 'logged-1'], ['GetInfo', id]]);

  assert.deepEqual(await (await fetch(`${sim.url}/sim/calls`, { method: 'DELETE' })).json(), { cleared: 2 });
  assert.deepEqual((await calls()).calls, []);
});
