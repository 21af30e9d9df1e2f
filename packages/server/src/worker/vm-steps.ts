/**
 * The steps on a host VM that several operation kinds share: boot it (again) and follow the boot, halt it
 * (force or graceful), wait until the host has removed it, and copy what the host reports onto the CVM.
 * Each checks what the host says before acting, so an operation resumed after a crash never repeats a
 * host call blindly (a VM already booting is not started twice, one already stopping is not stopped twice,
 * one already removing is not removed twice). A VM found stopped or exited has no boot in progress, so
 * StartVm then makes the one boot the operation is for (if a boot failed before the failure was recorded,
 * a second attempt: never a second VM, nor two boots at once). CreateVm is guarded in `ops/create.ts`,
 * UpdateVm in `ops/update.ts`.
 */
import type { VmConfiguration, VmInfo, VmmClient } from '../hosts/vmm-client.ts';
import {
  clearBootOutcome,
  readCvmRecord,
  recordHalted,
  recordProgress,
  recordBootDone,
  type CvmRecord,
} from '../store/cvm-records.ts';
import { failOperation, succeedOperation } from '../store/operations.ts';
import { hostVmName } from '../services/host-vm-names.ts';
import type { OpContext, OpSettings } from './context.ts';
import { LeaseLostError } from './queue.ts';

const FORCE_STOP_MS = 60_000;
const REMOVE_MS = 120_000;

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The CVM, its host VM id (it must have one) and its host's driver. */
export async function hostVm(ctx: OpContext): Promise<{ cvm: CvmRecord; hostVmId: string; host: VmmClient }> {
  const cvm = await readCvmRecord(ctx.db, ctx.op.cvm_id);
  if (!cvm.host_vm_id) throw new Error('the CVM has no VM on its host');
  return { cvm, hostVmId: cvm.host_vm_id, host: await ctx.nodes.client(cvm.node_id) };
}

/**
 * The CreateVm request for a CVM: created stopped, so its host VM id is recorded before it can ask for keys;
 * named after the CVM and labelled with this installation's and the CVM's ids (`services/host-vm-names.ts`),
 * so an interrupted create finds it again and the reconciler knows whose it is.
 */
export function vmConfiguration(c: CvmRecord, s: Pick<OpSettings, 'kmsUrls' | 'installationId'>): VmConfiguration {
  return {
    name: hostVmName(c.name, { installation: s.installationId, vmUuid: c.vm_uuid }),
    image: c.image,
    compose_file: c.app_compose,
    vcpu: c.vcpu,
    memory: c.memory_mb,
    disk_size: c.disk_gb,
    ports: c.ports ?? [],
    encrypted_env: c.encrypted_env ?? '',
    app_id: c.app_id,
    user_config: c.user_config ?? '',
    hugepages: c.hugepages,
    pin_numa: c.pin_numa,
    ...(c.gpus ? { gpus: c.gpus } : {}),
    kms_urls: s.kmsUrls,
    stopped: true,
  };
}

/**
 * Boot an existing host VM again and follow the boot. `failWith`: see `followBoot`; `step`: the phase recorded
 * while it boots (`booting`; a refused update keeps `reverting`, so that, resumed, it still ends failed).
 */
export async function bootAgain(ctx: OpContext, o: { failWith?: string; step?: string } = {}): Promise<void> {
  const { host, hostVmId, cvm } = await hostVm(ctx);
  const info = await host.getInfo(hostVmId);
  if (!info) throw new Error(`the host no longer has VM ${hostVmId}`);
  // retried after a crash: the VM may already be booting; never start it twice
  if (info.status !== 'running') await host.startVm(hostVmId);
  await clearBootOutcome(ctx.db, cvm.id);
  await ctx.step(o.step ?? 'booting');
  await followBoot(ctx, cvm.id, hostVmId, o.failWith);
}

/**
 * Follow a boot to `done`; the CVM is then `running` and the operation succeeds, or fails with `failWith`
 * (a refused update that booted the previous configuration again). A boot error, or a VM that exits or
 * stops while it boots, throws; so does a boot that has not reached `done` within `bootTimeoutMs` (the VM is
 * stopped first).
 */
export async function followBoot(ctx: OpContext, cvmId: number, hostVmId: string, failWith?: string, nodeId?: number): Promise<void> {
  const node = nodeId ?? (await readCvmRecord(ctx.db, cvmId)).node_id;
  const { bootTimeoutMs, boots } = ctx.settings;
  const deadline = Date.now() + bootTimeoutMs;
  let last = '';
  while (!ctx.stopping()) {
    // one Status per host per poll for every boot followed there (`boot-watch.ts`)
    const info = await boots.next(node, hostVmId);
    if (!info) throw new Error(`host lost VM ${hostVmId} while it booted`);
    const seen = `${info.status}|${info.boot_progress}|${info.boot_error}|${info.instance_id}`;
    if (seen !== last) {
      last = seen;
      await recordHostState(ctx, cvmId, info);
    }
    if (info.boot_error) throw new Error(`boot failed: ${info.boot_error}`);
    if (info.status === 'exited' || info.status === 'stopped') throw new Error(`VM ${info.status} during boot`);
    if (info.status === 'running' && info.boot_progress === 'done') {
      if (!(await recordBootDone(ctx.db, cvmId, ctx.op.id, failWith, ctx.owner))) {
        throw new LeaseLostError(`operation ${ctx.op.id} was taken over by another worker`);
      }
      ctx.settings.onBooted(cvmId);
      return;
    }
    if (Date.now() > deadline) {
      // a hung boot is stopped, so the host does not keep a half-booted VM running and the CVM reads `exited`
      // with this reason; the reconciler boots it again later (a recovery, with backoff) if it should run
      let stopped = 'the VM was stopped';
      const host = await ctx.nodes.client(node);
      await host.stopVm(hostVmId).catch((e: Error) => (stopped = `stopping the VM failed: ${e.message}`));
      throw new Error(`boot did not finish within ${bootTimeoutMs / 1000}s (last step: ${info.boot_progress || 'none'}); ${stopped}`);
    }
  }
}

export interface HaltOptions {
  /** end the operation (succeeded) once the VM stopped; false when more steps follow (restart, update, refresh) */
  finish?: boolean;
  /** the status the CVM shows once the VM stopped */
  statusAfter?: string;
}

/**
 * Stop the VM: `force` (StopVm: the process is killed) or `graceful` (ShutdownVm: the guest stops its
 * containers first). A graceful shutdown that outlasts the CVM's `shutdown_timeout_s` (or the worker's
 * default) becomes a forced stop if the CVM allows it.
 */
export async function halt(ctx: OpContext, mode: 'force' | 'graceful', o: HaltOptions = {}): Promise<void> {
  const { finish = true, statusAfter = 'stopped' } = o;
  const { host, hostVmId, cvm } = await hostVm(ctx);
  let info = await host.getInfo(hostVmId);
  if (!info) throw new Error(`the host no longer has VM ${hostVmId}`);
  if (info.status !== 'stopped') {
    if (mode === 'graceful' && info.status === 'running') {
      if (!info.shutdown_progress) await host.shutdownVm(hostVmId);
    } else if (info.status !== 'stopping') {
      await host.stopVm(hostVmId);
    }
    await ctx.step(mode === 'graceful' ? 'shutting down' : 'stopping');
    const graceMs = cvm.shutdown_timeout_s != null ? cvm.shutdown_timeout_s * 1000 : ctx.settings.shutdownTimeoutMs;
    const deadline = Date.now() + (mode === 'graceful' ? graceMs : FORCE_STOP_MS);
    let last = '';
    while (!ctx.stopping()) {
      info = await host.getInfo(hostVmId);
      if (!info) throw new Error(`the host lost VM ${hostVmId} while it stopped`);
      const seen = `${info.status}|${info.shutdown_progress}`;
      if (seen !== last) {
        last = seen;
        await recordHostState(ctx, cvm.id, info);
      }
      if (info.status === 'stopped') break;
      if (Date.now() > deadline) {
        if (mode === 'force') throw new Error(`VM did not stop within ${FORCE_STOP_MS / 1000} s (status ${info.status})`);
        // a guest that does not finish its graceful shutdown is stopped the hard way, if the CVM allows it
        if (!cvm.allow_force_stop) throw new Error(`graceful shutdown did not finish within ${graceMs / 1000} s, and allow_force_stop is off`);
        mode = 'force';
        await host.stopVm(hostVmId);
      }
      await sleep(ctx.settings.bootPollMs);
    }
    if (ctx.stopping()) return;
  }
  await ctx.db.tx(async (q) => {
    await ctx.holds(q);
    await recordHalted(q, cvm.id, statusAfter);
    if (finish) await succeedOperation(q, ctx.op.id, 'stopped');
  });
}

/** Ask the host to remove the VM (and its disk there), unless it is already removing it or has it no more. */
export async function requestRemoval(ctx: OpContext, nodeId: number, hostVmId: string): Promise<void> {
  const host = await ctx.nodes.client(nodeId);
  const info = await host.getInfo(hostVmId);
  if (info && info.status !== 'removing') await host.removeVm(hostVmId);
}

/** Wait until the host no longer has the VM (RemoveVm is asynchronous). */
export async function untilRemoved(ctx: OpContext, nodeId: number, hostVmId: string): Promise<void> {
  const host = await ctx.nodes.client(nodeId);
  const deadline = Date.now() + REMOVE_MS;
  while (!ctx.stopping() && (await host.getInfo(hostVmId))) {
    if (Date.now() > deadline) throw new Error(`the host did not remove the VM within ${REMOVE_MS / 1000} s`);
    await sleep(ctx.settings.bootPollMs);
  }
}

/** Copy what the host says about a VM (progress, errors, instance id) onto the CVM record. */
export async function recordHostState(ctx: OpContext, cvmId: number, info: VmInfo): Promise<void> {
  // a refresh retires the old instance id: the VM being stopped still reports it, and it must not come back
  const retired = ctx.op.kind === 'refresh_instance_id' ? ctx.op.params.old_instance_id : null;
  await recordProgress(ctx.db, cvmId, {
    boot_progress: info.boot_progress ?? null,
    boot_error: info.boot_error ?? null,
    shutdown_progress: info.shutdown_progress ?? null,
    instance_id: info.instance_id && info.instance_id !== retired ? info.instance_id : null,
  });
}

/**
 * What the host says the CVM's VM is doing, as a CVM status: `starting` while a boot has not reached
 * `done`, the host's status otherwise, `error` if there is no VM or the host cannot be asked.
 */
export async function statusFromHost(ctx: OpContext): Promise<string> {
  try {
    const cvm = await readCvmRecord(ctx.db, ctx.op.cvm_id);
    const info = cvm.host_vm_id ? await (await ctx.nodes.client(cvm.node_id)).getInfo(cvm.host_vm_id) : null;
    if (info) return info.status === 'running' && info.boot_progress !== 'done' ? 'starting' : info.status;
  } catch {
    /* no host VM, or the host cannot be asked: error */
  }
  return 'error';
}
