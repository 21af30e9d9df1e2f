/**
 * Shared by the configuration-update suites (updates.test.ts, updates-twophase.test.ts): what the
 * simulated host and the CVM record hold, so a test can say "changed exactly so" or "left as it was".
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { encryptEnvVars } from '@phala/cloud';
import type { CvmConfig } from '@opencvm/core';
import type { SimVmView } from '@opencvm/vmm-sim';
import type { TestEnv } from './harness.ts';
import { sdkClient, settle } from './deploy.ts';
import { cvmNameOf } from '../services/host-vm-names.ts';

export const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/** The one VM the host has for `name` (there must be exactly one: an update never makes a second). */
export function hostVm(env: TestEnv, name: string): SimVmView {
  const vms = env.sim.listVms().filter((v) => cvmNameOf(v.name) === name);
  assert.equal(vms.length, 1, `exactly one host VM for ${name}, found ${vms.length}`);
  return vms[0];
}

/** What of a host VM an update may change: compare two of these to see that nothing moved. */
export function hostState(vm: SimVmView) {
  return { id: vm.id, status: vm.status, composeHash: vm.composeHash, configuration: vm.configuration, env: vm.guest.env };
}

/** The host VM's app-compose, parsed. */
export const composeOf = (vm: SimVmView) => JSON.parse(vm.configuration.compose_file) as Record<string, any>;

/** The host VM after an update: running and booted, the same VM as `before` (no second one), its compose hash the hash of its bytes. */
export function updatedHostVm(env: TestEnv, name: string, before: SimVmView): SimVmView {
  const vm = hostVm(env, name);
  assert.equal(vm.id, before.id, 'the same host VM, stopped and started: no second VM');
  assert.equal(vm.status, 'running');
  assert.equal(vm.bootProgress, 'done');
  assert.equal(vm.composeHash, sha256(vm.configuration.compose_file));
  return vm;
}

/** The CVM row: its configuration (as updates see it, less the instance type) and where it runs. */
export interface CvmRecord extends Omit<CvmConfig, 'instance_type'> {
  id: number;
  status: string;
  host_vm_id: string | null;
  operations: number;
  revisions: number;
  pending: number;
}

/** The CVM's row (its configuration) and how many operations, revisions and pending updates it has. */
export async function recordOf(env: TestEnv, vmUuid: string): Promise<CvmRecord> {
  const [row] = await env.server.db.query<CvmRecord>(
    `SELECT c.id, c.status, c.app_compose, c.compose_hash, c.encrypted_env, c.env_keys, c.user_config, c.vcpu, c.memory_mb, c.disk_gb,
            c.image, c.listed, c.shutdown_timeout_s, c.allow_force_stop, c.host_vm_id,
            (SELECT count(*)::int FROM operations o WHERE o.cvm_id = c.id) AS operations,
            (SELECT count(*)::int FROM revisions r WHERE r.cvm_id = c.id) AS revisions,
            (SELECT count(*)::int FROM pending_updates u WHERE u.cvm_id = c.id) AS pending
       FROM cvms c WHERE c.vm_uuid = $1`,
    [vmUuid],
  );
  assert.ok(row, `CVM ${vmUuid} is on record`);
  return row;
}

/** The CVM's operations, oldest first. */
export function operationsOf(env: TestEnv, vmUuid: string) {
  return env.server.db.query<{ kind: string; state: string; error: string | null; correlation_id: string }>(
    `SELECT o.kind, o.state, o.error, o.correlation_id FROM operations o JOIN cvms c ON c.id = o.cvm_id WHERE c.vm_uuid = $1 ORDER BY o.id`,
    [vmUuid],
  );
}

/** Provision and commit `name` with `allowed` env keys and a sealed env of `vars`, then wait until it runs. */
export async function deployWithEnv(env: TestEnv, name: string, compose: string, allowed: string[], vars: Record<string, string>) {
  const c = sdkClient(env);
  const p = await c.provisionCvm({ name, compose_file: { docker_compose_file: compose, allowed_envs: allowed } });
  const encrypted = await encryptEnvVars(Object.entries(vars).map(([key, value]) => ({ key, value })), p.app_env_encrypt_pubkey!);
  const vm = await c.commitCvmProvision({ app_id: p.app_id!, compose_hash: p.compose_hash, encrypted_env: encrypted, env_keys: Object.keys(vars) });
  await settle(env, vm.vm_uuid!, 'running');
  return vm;
}

/** The call must be refused with this HTTP status and error code; answers the error (message checks are the caller's). */
export async function refused(call: Promise<unknown>, status: number, code: string): Promise<{ status: number; errorCode: string; message: string }> {
  const e = await call.then(
    (r) => assert.fail(`expected a refusal (${status} ${code}), the call succeeded: ${JSON.stringify(r)}`),
    (x) => x,
  );
  assert.equal(e.status, status, `status of: ${e.message}`);
  assert.equal(e.errorCode, code, `error code of: ${e.message}`);
  assert.ok(e.message.length > 20, `a clear message: ${e.message}`);
  return e;
}
