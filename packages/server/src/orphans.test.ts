/**
 * Orphan VMs: the runtime reconciler removes a VM that opencvm created (its name carries this installation's
 * label) but that no CVM owns, once it has been one for the grace period, and records the removal in
 * `host_events`. A VM without our label (someone else's on a shared host), another installation's, a CVM's
 * own VM, and a VM whose CVM has an operation in progress are left alone.
 */
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { VmmClient } from './hosts/vmm-client.ts';
import { cvmNameOf, hostVmName, installationId, parseHostVmName } from './services/host-vm-names.ts';
import { ORPHAN_REMOVED } from './services/runtime.ts';
import { deployRunning, sdkClient, settle } from './testing/deploy.ts';
import { startTestEnv, type TestEnv } from './testing/harness.ts';
import { waitFor } from './testing/wait.ts';

const COMPOSE = 'services:\n  web:\n    image: nginx\n';
const GRACE_MS = 600;

let env: TestEnv;
before(async () => {
  env = await startTestEnv({ config: { reconcileMs: 100, orphanGraceMs: GRACE_MS } });
});
after(async () => {
  await env?.close();
});

const host = () => new VmmClient(env.sim.url);
const onHost = (id: string) => env.sim.listVms().some((v) => v.id === id);

/** A VM made on the host directly, with the configuration of `like`'s VM under another name. */
async function createOnHost(like: string, name: string): Promise<string> {
  const model = env.sim.listVms().find((v) => cvmNameOf(v.name) === like)!;
  const { id } = await host().createVm({ ...model.configuration, name, stopped: true });
  return id;
}

interface EventRow {
  host_vm_id: string;
  cvm_id: number | null;
  kind: string;
  reason: string;
  details: { name: string; vm_uuid: string; orphan_for_ms: number };
}
const events = () =>
  env.server.db.query<EventRow>('SELECT host_vm_id, cvm_id, kind, reason, details FROM host_events ORDER BY id');

test(`host VM names carry the installation and the CVM id, and only opencvm's parse`, async () => {
  const label = { installation: 'a1b2c3d4e5f6', vmUuid: randomUUID() };
  const name = hostVmName('my-app', label);
  assert.match(name, /^[A-Za-z0-9\-_. @~!$^()]*$/, "only the characters dstack-vmm allows in a VM name");
  assert.deepEqual(parseHostVmName(name), label);
  assert.equal(cvmNameOf(name), 'my-app');
  assert.equal(parseHostVmName('my-app'), null);
  assert.equal(parseHostVmName('my-app (opencvm nothex 123)'), null);
});

test(`orphan VMs are removed after the grace period and recorded; foreign VMs, other installations' and CVMs' own are left alone`, async () => {
  const db = env.server.db;
  const installation = await installationId(db);
  const owner = await deployRunning(env, 'orphan-owner', COMPOSE);
  const ownVm = env.sim.listVms().find((v) => cvmNameOf(v.name) === 'orphan-owner')!;
  assert.deepEqual(parseHostVmName(ownVm.name), { installation, vmUuid: owner.vm_uuid }, 'the CVM VM carries our label');

  const deleted = await deployRunning(env, 'orphan-deleted', COMPOSE);
  await sdkClient(env).deleteCvm({ id: deleted.vm_uuid! });
  await waitFor(async () => ((await db.query('SELECT 1 FROM cvms WHERE vm_uuid = $1 AND deleted_at IS NOT NULL', [deleted.vm_uuid])).length ? true : null));

  // a CVM with an operation queued: a VM labelled with its id may be the one that operation is creating
  const busy = await deployRunning(env, 'orphan-busy', COMPOSE);
  await db.query(
    `INSERT INTO operations (correlation_id, workspace_id, cvm_id, kind, target_status, state, run_after)
     SELECT gen_random_uuid(), workspace_id, id, 'stop', 'stopped', 'pending', now() + interval '1 hour' FROM cvms WHERE vm_uuid = $1`,
    [busy.vm_uuid],
  );

  // left alone, all made before the orphans below: they outlive the orphans' grace period
  const foreign = await createOnHost('orphan-owner', 'someone-elses-app');
  const otherInstallation = await createOnHost('orphan-owner', hostVmName('theirs', { installation: 'ffffffffffff', vmUuid: randomUUID() }));
  const busyExtra = await createOnHost('orphan-owner', hostVmName('orphan-busy', { installation, vmUuid: busy.vm_uuid! }));

  // orphans: no CVM has the id; a second VM for a CVM that runs on another; a VM of a deleted CVM
  const noCvm = await createOnHost('orphan-owner', hostVmName('gone', { installation, vmUuid: randomUUID() }));
  const duplicate = await createOnHost('orphan-owner', hostVmName('orphan-owner', { installation, vmUuid: owner.vm_uuid! }));
  const ofDeleted = await createOnHost('orphan-owner', hostVmName('orphan-deleted', { installation, vmUuid: deleted.vm_uuid! }));

  await waitFor(() => (![noCvm, duplicate, ofDeleted].some(onHost) ? true : null), 15_000);
  for (const id of [ownVm.id, foreign, otherInstallation, busyExtra]) assert.ok(onHost(id), `VM ${id} must be left on the host`);

  const rows = await events();
  assert.deepEqual(rows.map((r) => [r.host_vm_id, r.kind]).sort(), [noCvm, duplicate, ofDeleted].map((id) => [id, ORPHAN_REMOVED]).sort());
  const byVm = new Map(rows.map((r) => [r.host_vm_id, r]));
  assert.match(byVm.get(noCvm)!.reason, /no CVM has id/);
  assert.equal(byVm.get(noCvm)!.cvm_id, null);
  assert.match(byVm.get(duplicate)!.reason, new RegExp(`runs on VM ${ownVm.id}, not this one`));
  assert.match(byVm.get(ofDeleted)!.reason, /is deleted/);
  for (const r of rows) assert.ok(r.details.orphan_for_ms >= GRACE_MS, `removed only after the grace period: ${JSON.stringify(r.details)}`);

  const [ownerRow] = await db.query<{ status: string; host_vm_id: string }>('SELECT status, host_vm_id FROM cvms WHERE vm_uuid = $1', [owner.vm_uuid]);
  assert.deepEqual(ownerRow, { status: 'running', host_vm_id: ownVm.id }, "the CVM's own VM is never touched");
  assert.equal(env.sim.getVm(ownVm.id)?.status, 'running');

  // once the busy CVM's operation is over without recording that VM, the VM is an orphan like the others
  await db.query(`UPDATE operations SET state = 'succeeded', finished_at = now() WHERE cvm_id = (SELECT id FROM cvms WHERE vm_uuid = $1) AND state = 'pending'`, [busy.vm_uuid]);
  await waitFor(() => (!onHost(busyExtra) ? true : null), 15_000);
  assert.ok(onHost(foreign) && onHost(otherInstallation), 'foreign VMs stay');
  await settle(env, busy.vm_uuid!, 'running');
  assert.equal((await events()).length, 4);
});
