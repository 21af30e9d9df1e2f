/**
 * Runtime state: what hosts and guests say, brought into the store so reads never call a host.
 *
 * `RuntimeReconciler` runs beside the operation worker. Every `intervalMs`, for each registered node, it
 * 1. reads the node's idle CVMs (no pending/running operation: the worker owns those) and asks the host
 *    once for all its VMs (`Status`, brief);
 * 2. copies what changed outside any operation onto each CVM — a VM that exited or was stopped on its own,
 *    a VM the host no longer has, `instance_id`, `boot_progress`, `boot_error` — as a compare-and-set on
 *    the row version it read, so a row changed meanwhile (an operation queued, the worker's progress) is
 *    left for the next tick;
 * 3. refreshes `cvms.runtime` (containers, SysInfo, NetworkInfo from the guest agent) of running, booted
 *    CVMs whose snapshot is older than `runtimeMaxAgeMs`, stalest first, at most `refreshPerTick` per node;
 * 4. removes orphan VMs: a VM whose name carries this installation's label (`host-vm-names.ts`) but that no
 *    CVM owns — no CVM has its label's id, that CVM is deleted or placed on another node, or it records
 *    another VM (or none) with no operation in progress that could still record this one. A VM is removed
 *    once it has been an orphan for `orphanGraceMs` on every tick, each removal recorded in `host_events`
 *    and logged. A VM without our label (someone else's, on a shared host) is never touched.
 * 5. brings each idle CVM back to its desired state (`cvms.desired_state`: what its owner asked for last):
 *    a CVM that should run whose VM the host no longer has gets a `create` operation that makes it again
 *    (looking for the VM by its label first, so never a second one); one whose VM the host reports stopped or
 *    exited gets a `start`. Each is a recovery operation (`params.recovery`, its `reason` in the operation
 *    history), queued after a backoff (`recovery.baseMs` doubling to `recovery.capMs`, from the tick that
 *    first saw it) and at most `recovery.attempts` times in a row; a boot that reaches `done` resets the
 *    count. After the last one the CVM stays as it is, its `boot_error` saying so. A CVM that should stay
 *    stopped whose VM the host lost shows `stopped` and records no VM: its next start creates one.
 * A host whose `Status` fails `unreachableAfter` ticks in a row is marked `unreachable` (placement skips it;
 * its CVMs keep their last known state and show the host's status in `node_info.status`); the first tick it
 * answers again marks it `online`. Both are recorded in `host_events` and logged once. Ticks never overlap.
 *
 * `RuntimeService` serves `/cvms/{id}/composition`, `/stats` and `/network` from the store.
 */
import {
  compositionShape,
  networkShape,
  statsShape,
  type CvmView,
} from '@opencvm/core';
import type { Db } from '../db/index.ts';
import type { VmInfo, VmmClient } from '../hosts/vmm-client.ts';
import {
  applyHostState,
  clearRecovery,
  idleCvmsOnNode,
  lockDueRecovery,
  recordRecoveryQueued,
  scheduleRecovery,
  readRuntime,
  runtimeTarget,
  saveRuntime,
  saveRuntimeFailure,
  staleRuntimes,
  type HostedCvmRow,
  type HostStatePatch,
  type RuntimeTarget,
} from '../store/runtime.ts';
import { hasHostEvent, insertHostEvent, vmOwners, type VmOwnerRow } from '../store/host-events.ts';
import { markNodeReachable, markNodeUnreachable, recordNodeError } from '../store/nodes.ts';
import { parseHostVmName } from './host-vm-names.ts';
import { queueOperation } from './operations.ts';
import type { LogUrlService } from './log-urls.ts';
import type { NodeService } from './nodes.ts';

export interface ReconcilerOptions {
  /** how often hosts are read, ms (default 5 s) */
  intervalMs?: number;
  /** a runtime snapshot older than this is refreshed, ms (default 6 × interval) */
  runtimeMaxAgeMs?: number;
  /** at most this many snapshots refreshed per node per tick (default 20) */
  refreshPerTick?: number;
  /** this installation's id (`installationId` of `host-vm-names.ts`); without it no VM is taken for an orphan */
  installationId?: string;
  /** how long a VM must have been seen as an orphan before it is removed, ms (default 5 minutes) */
  orphanGraceMs?: number;
  /** wake the operation worker (a recovery was queued) */
  wake?: () => void;
  /** a host whose `Status` fails this many ticks in a row is marked `unreachable` (default 3) */
  unreachableAfter?: number;
  /** recovery of CVMs whose host does not match their desired state */
  recovery?: Partial<RecoveryPolicy>;
  /** queue the scheduled deletes that are due (`CvmOpsService.queueDueDeletes`), once per tick */
  scheduledDeletes?: () => Promise<unknown>;
  /** the housekeeping of each tick that is not about hosts (`EventRetention.tick`); it keeps its own pace */
  housekeeping?: () => Promise<unknown>;
  log?: (msg: string, err?: unknown) => void;
}

/** When the reconciler queues a recovery operation, and how many in a row. */
export interface RecoveryPolicy {
  /** recovery operations queued in a row at most (0: never; the CVM shows what the host says) */
  attempts: number;
  /** the wait before the first, ms; each further one waits twice as long as the one before */
  baseMs: number;
  /** no wait is longer than this, ms */
  capMs: number;
}

export const DEFAULT_RECOVERY: RecoveryPolicy = { attempts: 5, baseMs: 5000, capMs: 300_000 };

/** The wait before recovery attempt `attempt + 1` (`attempt` already queued in a row). */
export const recoveryDelayMs = (attempt: number, p: RecoveryPolicy) => Math.min(p.capMs, p.baseMs * 2 ** attempt);

/** What `boot_error` says of a CVM whose VM its host no longer has. */
export const VM_GONE = 'the host no longer has this VM (it was removed outside opencvm)';

export class RuntimeReconciler {
  private timer: NodeJS.Timeout | null = null;
  private inFlight: Promise<void> | null = null;
  /** the last failure logged per node, so a host that stays down is reported once, not every tick */
  private nodeErrors = new Map<number, string>();
  private stopped = false;
  /** per node, the orphan VMs seen (host VM id → when first seen as one, ms); forgotten when no longer one */
  private orphansSeen = new Map<number, Map<string, number>>();
  /** per node, how many ticks in a row its `Status` failed */
  private failures = new Map<number, number>();
  private readonly opts: Required<Omit<ReconcilerOptions, 'installationId' | 'recovery'>> & Pick<ReconcilerOptions, 'installationId'>;
  private readonly recovery: RecoveryPolicy;

  constructor(
    private readonly db: Db,
    private readonly nodes: NodeService,
    opts: ReconcilerOptions = {},
  ) {
    const intervalMs = opts.intervalMs ?? 5000;
    const { recovery, ...rest } = opts;
    this.opts = { intervalMs, runtimeMaxAgeMs: intervalMs * 6, refreshPerTick: 20, orphanGraceMs: 5 * 60_000, unreachableAfter: 3, wake: () => {}, log: () => {}, scheduledDeletes: async () => {}, housekeeping: async () => {}, ...rest };
    this.recovery = { ...DEFAULT_RECOVERY, ...recovery };
  }

  start(): void {
    this.stopped = false;
    this.timer = setInterval(() => void this.tick(), this.opts.intervalMs);
    this.timer.unref();
  }

  /** Stop the timer and wait for the tick in hand. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.inFlight;
  }

  /** One pass over every node now; a call while a pass runs shares that pass. Never throws. */
  tick(): Promise<void> {
    this.inFlight ??= this.pass()
      .catch((e) => this.opts.log('runtime reconcile failed', e))
      .finally(() => {
        this.inFlight = null;
      });
    return this.inFlight;
  }

  /**
   * Read one CVM's containers, SysInfo and NetworkInfo from its guest now and store them: the worker calls
   * this right after it marks a boot `running`. Does nothing unless the CVM is running; never throws
   * (a guest that does not answer yet is read again by the next tick). True if a snapshot was stored.
   */
  async refreshRuntime(cvmId: number): Promise<boolean> {
    try {
      const target = await runtimeTarget(this.db, cvmId);
      if (!target) return false;
      return await this.refresh(await this.nodes.client(target.node_id), target);
    } catch (e) {
      this.opts.log(`runtime refresh of CVM ${cvmId} failed`, e);
      return false;
    }
  }

  private async pass(): Promise<void> {
    await this.opts.scheduledDeletes().catch((e) => this.opts.log('queueing the scheduled deletes failed', e));
    await this.opts.housekeeping().catch((e) => this.opts.log('housekeeping failed', e));
    const nodes = await this.nodes.list();
    await Promise.all(
      nodes.map((n) =>
        this.reconcileNode(n.id).then(
          () => this.nodeErrors.delete(n.id),
          (e) => {
            const message = (e as Error).message;
            if (this.nodeErrors.get(n.id) !== message) this.opts.log(`runtime reconcile of node ${n.name} failed: ${message}`);
            this.nodeErrors.set(n.id, message);
          },
        ),
      ),
    );
  }

  private async reconcileNode(nodeId: number): Promise<void> {
    const rows = await idleCvmsOnNode(this.db, nodeId);
    if (this.stopped) return;
    const host = await this.nodes.client(nodeId);
    // rows first, host second: a write is conditional on the row version read before the host answered
    let listed: VmInfo[];
    try {
      listed = await host.status({ brief: true });
    } catch (e) {
      await this.hostFailed(nodeId, e as Error);
      throw e;
    }
    await this.hostAnswered(nodeId);
    await this.removeOrphans(nodeId, host, listed);
    const vms = new Map(listed.map((v) => [v.id, v]));
    for (const row of rows) {
      if (this.stopped) return;
      await this.converge(row, row.host_vm_id ? vms.get(row.host_vm_id) : undefined);
    }
    const stale = await staleRuntimes(this.db, nodeId, this.opts.runtimeMaxAgeMs, this.opts.refreshPerTick);
    for (let i = 0; i < stale.length && !this.stopped; i += 4) {
      await Promise.all(
        stale.slice(i, i + 4).map((t) =>
          this.refresh(host, t).catch(async (e) => {
            const message = (e as Error).message;
            this.opts.log(`runtime refresh of CVM ${t.id} failed: ${message}`);
            await saveRuntimeFailure(this.db, t, message).catch(() => {});
          }),
        ),
      );
    }
  }

  /**
   * One idle CVM against its VM (undefined: the host does not have it): copy what the host says, then, if the
   * host does not match the desired state, schedule a recovery (the backoff) or queue the one that is due.
   */
  private async converge(row: HostedCvmRow, vm: VmInfo | undefined): Promise<void> {
    const need = recoveryNeed(row, vm);
    const gaveUp = need !== null && row.recovery_attempts >= this.recovery.attempts && this.recovery.attempts > 0;
    const patch = hostStatePatch(row, vm, gaveUp ? this.recovery.attempts : 0);
    let version: string | null = row.version;
    if (patch) version = await applyHostState(this.db, row.id, row.version, patch);
    if (!version) return; // changed meanwhile: the next tick looks again
    if (!need) {
      if ((row.recovery_attempts > 0 || row.recovery_scheduled) && vm?.status === 'running' && vm.boot_progress === 'done') {
        await clearRecovery(this.db, row.id);
      }
      return;
    }
    if (this.recovery.attempts === 0 || gaveUp) return;
    if (!row.recovery_scheduled) {
      await scheduleRecovery(this.db, row.id, version, recoveryDelayMs(row.recovery_attempts, this.recovery));
      return;
    }
    if (row.recovery_due && !patch) await this.queueRecovery(row, need, vm);
  }

  /** Queue the recovery operation of an idle CVM whose recovery is due, in one transaction with what it shows. */
  private async queueRecovery(row: HostedCvmRow, need: RecoveryNeed, vm: VmInfo | undefined): Promise<void> {
    const attempt = row.recovery_attempts + 1;
    const of = `attempt ${attempt} of ${this.recovery.attempts}`;
    const reason =
      need === 'recreate'
        ? row.host_vm_id
          ? `the host lost VM ${row.host_vm_id} (restarted without it, or it was removed outside opencvm): creating it again (${of})`
          : `the CVM should run but has no VM on its host: creating it (${of})`
        : `the host reports VM ${row.host_vm_id} ${vm?.status}${row.boot_error ? ` (${row.boot_error})` : ''} while the CVM should run: starting it again (${of})`;
    const queued = await this.db.tx(async (q) => {
      if (!(await lockDueRecovery(q, row.id, row.version))) return false;
      await recordRecoveryQueued(q, row.id, need === 'recreate');
      await queueOperation(q, {
        workspaceId: row.workspace_id,
        cvmId: row.id,
        kind: need === 'recreate' ? 'create' : 'start',
        target: 'running',
        // a recreate looks for the VM by its label before it creates one (create's `creating` step)
        step: need === 'recreate' ? 'creating' : undefined,
        params: { recovery: true, operation_type: 'recover', reason, attempt },
      });
      return true;
    });
    if (!queued) return;
    this.opts.log(`CVM ${row.id}: ${reason}`);
    this.opts.wake();
  }

  /** A node's `Status` failed: after `unreachableAfter` ticks in a row, mark it unreachable (recorded and logged once). */
  private async hostFailed(nodeId: number, e: Error): Promise<void> {
    const n = (this.failures.get(nodeId) ?? 0) + 1;
    this.failures.set(nodeId, n);
    if (n < this.opts.unreachableAfter) return;
    if (await markNodeUnreachable(this.db, nodeId, e.message)) {
      await insertHostEvent(this.db, {
        node_id: nodeId, host_vm_id: null, cvm_id: null, kind: HOST_UNREACHABLE,
        reason: `the host did not answer ${n} reads in a row: ${e.message}`,
        details: { failed_ticks: n, error: e.message },
      });
      this.opts.log(`node ${nodeId} is unreachable (${n} reads in a row failed): ${e.message}; placement skips it, its CVMs keep their last known state`);
    } else {
      await recordNodeError(this.db, nodeId, e.message);
    }
  }

  /** A node's `Status` answered: a node marked unreachable (or offline) is online again (recorded and logged once). */
  private async hostAnswered(nodeId: number): Promise<void> {
    this.failures.delete(nodeId);
    const was = await markNodeReachable(this.db, nodeId);
    if (!was) return;
    const downMs = was.since ? Date.now() - new Date(was.since).getTime() : null;
    await insertHostEvent(this.db, {
      node_id: nodeId, host_vm_id: null, cvm_id: null, kind: HOST_RECOVERED,
      reason: `the host answers again (it was ${was.was})`,
      details: { was: was.was, unreachable_since: was.since, down_ms: downMs },
    });
    this.opts.log(`node ${nodeId} answers again (it was ${was.was}): online`);
  }

  /**
   * Remove the VMs of `listed` (one node's, just read from its host) that are ours and have been orphans for
   * the grace period. Owners are read after the host answered: a VM a create has just made is then either
   * recorded on its CVM or its operation is still in progress.
   */
  private async removeOrphans(nodeId: number, host: VmmClient, listed: VmInfo[]): Promise<void> {
    const installation = this.opts.installationId;
    if (!installation) return;
    const labelled = listed.flatMap((vm) => {
      const label = parseHostVmName(vm.name);
      return label?.installation === installation ? [{ vm, vmUuid: label.vmUuid }] : [];
    });
    const seen = this.orphansSeen.get(nodeId) ?? new Map<string, number>();
    this.orphansSeen.set(nodeId, seen);
    if (!labelled.length) {
      seen.clear();
      return;
    }
    const owners = new Map((await vmOwners(this.db, [...new Set(labelled.map((l) => l.vmUuid))])).map((o) => [o.vm_uuid, o]));
    const now = Date.now();
    const orphans = new Set<string>();
    for (const { vm, vmUuid } of labelled) {
      if (this.stopped) return;
      const owner = owners.get(vmUuid);
      const reason = orphanReason(nodeId, vm, vmUuid, owner);
      if (!reason) continue;
      orphans.add(vm.id);
      const since = seen.get(vm.id) ?? now;
      seen.set(vm.id, since);
      if (now - since < this.opts.orphanGraceMs) continue;
      // looked at again right before acting: an operation may have started, or recorded this VM, meanwhile
      const [fresh] = await vmOwners(this.db, [vmUuid]);
      const still = orphanReason(nodeId, vm, vmUuid, fresh);
      if (!still) continue;
      if (vm.status !== 'removing') await host.removeVm(vm.id);
      else if (await hasHostEvent(this.db, nodeId, vm.id, ORPHAN_REMOVED)) continue;
      await insertHostEvent(this.db, {
        node_id: nodeId,
        host_vm_id: vm.id,
        cvm_id: fresh?.id ?? null,
        kind: ORPHAN_REMOVED,
        reason: still,
        details: { name: vm.name, status: vm.status, vm_uuid: vmUuid, cvm_host_vm_id: fresh?.host_vm_id ?? null, orphan_for_ms: now - since },
      });
      this.opts.log(`removed orphan VM ${vm.id} ("${vm.name}") from node ${nodeId}: ${still}`);
      seen.delete(vm.id);
    }
    for (const id of seen.keys()) if (!orphans.has(id)) seen.delete(id);
  }

  private async refresh(host: VmmClient, t: RuntimeTarget): Promise<boolean> {
    const [list, sysinfo, network] = await Promise.all([
      host.listContainers(t.host_vm_id),
      host.sysInfo(t.host_vm_id),
      host.networkInfo(t.host_vm_id),
    ]);
    if (this.stopped) return false;
    return saveRuntime(this.db, t, { containers: list.containers, sysinfo, network });
  }
}

const orNull = (s: string | null | undefined) => (s ? s : null);

/** The `host_events` kind of an orphan VM's removal. */
export const ORPHAN_REMOVED = 'orphan_vm_removed';

/**
 * Why a VM labelled with `vmUuid` that node `nodeId` has is an orphan, or null if it is not (its CVM records
 * it, or an operation of its CVM is in progress and may still record it).
 */
export function orphanReason(nodeId: number, vm: Pick<VmInfo, 'id'>, vmUuid: string, owner: VmOwnerRow | undefined): string | null {
  if (!owner) return `no CVM has id ${vmUuid}`;
  if (owner.deleted) return `CVM ${vmUuid} is deleted`;
  if (owner.busy) return null;
  if (owner.node_id !== nodeId) return `CVM ${vmUuid} is placed on another node`;
  if (owner.host_vm_id === vm.id) return null;
  return owner.host_vm_id ? `CVM ${vmUuid} runs on VM ${owner.host_vm_id}, not this one` : `CVM ${vmUuid} records no VM on its host`;
}

/** The `host_events` kinds of a host that stopped answering and of one that answers again. */
export const HOST_UNREACHABLE = 'host_unreachable';
export const HOST_RECOVERED = 'host_recovered';

/** What brings an idle CVM back to its desired state: its VM created again, or started again. */
export type RecoveryNeed = 'recreate' | 'start';

/**
 * Whether an idle CVM's host matches its desired state, and if not what the recovery is: a CVM that should
 * run whose VM is missing (or that has none) is created again; one whose VM is stopped or exited is started.
 * A CVM that should stay stopped is never acted on (a VM started outside opencvm is shown as it is).
 */
export function recoveryNeed(row: Pick<HostedCvmRow, 'desired_state' | 'host_vm_id'>, vm: VmInfo | undefined): RecoveryNeed | null {
  if (row.desired_state !== 'running') return null;
  if (!row.host_vm_id || !vm) return 'recreate';
  return vm.status === 'stopped' || vm.status === 'exited' ? 'start' : null;
}

/** What `boot_error` adds once the reconciler stopped trying to bring a CVM back. */
export const gaveUpNote = (attempts: number) => `opencvm gave up after ${attempts} recovery attempts: start the CVM to try again`;

/**
 * The CVM fields the host's view implies (dstack-vmm's VM statuses), or null when nothing changes. Statuses
 * mirror the host's (`running` only once the boot is `done`, `starting` before); a VM being removed is left
 * until it is gone. A VM missing from the host puts a CVM that should run in `error`, and shows one that should
 * stay stopped as `stopped` with no VM (its next start creates one). A VM found stopped after a boot that
 * failed keeps the CVM `exited` with the worker's reason. `gaveUp` (the recovery attempts made, once the
 * reconciler stopped trying): `boot_error` says so.
 */
export function hostStatePatch(
  row: Pick<HostedCvmRow, 'status' | 'boot_progress' | 'boot_error' | 'shutdown_progress' | 'instance_id' | 'host_vm_id'> & Partial<Pick<HostedCvmRow, 'desired_state'>>,
  vm: VmInfo | undefined,
  gaveUp = 0,
): HostStatePatch | null {
  let next: HostStatePatch;
  if (!vm) {
    if (row.desired_state === 'stopped') {
      next = { status: 'stopped', boot_progress: null, boot_error: null, shutdown_progress: null, instance_id: null, clear_vm: !!row.host_vm_id };
    } else if (!row.host_vm_id) {
      // no VM recorded (its create failed): the worker's record of why stays
      if (!gaveUp) return null;
      next = { status: row.status, boot_progress: row.boot_progress, boot_error: row.boot_error, shutdown_progress: row.shutdown_progress, instance_id: null };
    } else {
      next = { status: 'error', boot_progress: null, boot_error: VM_GONE, shutdown_progress: null, instance_id: null };
    }
  } else {
    const status =
      vm.status === 'running' ? (vm.boot_progress === 'done' ? 'running' : 'starting')
      : vm.status === 'exited' || vm.status === 'stopped' || vm.status === 'stopping' ? vm.status
      : null;
    if (!status) return null;
    if (status === 'stopped' && row.status === 'exited' && !gaveUp) return null;
    next =
      status === 'stopped' && row.status === 'exited'
        ? { status: 'exited', boot_progress: row.boot_progress, boot_error: row.boot_error, shutdown_progress: null, instance_id: null }
        : status === 'stopped'
        ? { status, boot_progress: null, boot_error: null, shutdown_progress: null, instance_id: orNull(vm.instance_id) }
        : {
            status,
            boot_progress: orNull(vm.boot_progress),
            // the worker may have recorded a fuller reason for an exit than the host keeps
            boot_error: orNull(vm.boot_error) ?? (status === 'exited' ? row.boot_error : null),
            shutdown_progress: orNull(vm.shutdown_progress),
            instance_id: orNull(vm.instance_id),
          };
  }
  if (gaveUp) {
    const note = gaveUpNote(gaveUp);
    if (!next.boot_error?.includes(note)) next.boot_error = next.boot_error ? `${next.boot_error} (${note})` : note;
  }
  const same =
    next.status === row.status &&
    next.boot_progress === row.boot_progress &&
    next.boot_error === row.boot_error &&
    next.shutdown_progress === row.shutdown_progress &&
    !next.clear_vm &&
    (next.instance_id === null || next.instance_id === row.instance_id);
  return same ? null : next;
}

/** The runtime reads (`/cvms/{id}/composition`, `/stats`, `/network`): the CVM row and its stored snapshot, never a host. */
export class RuntimeService {
  constructor(
    private readonly db: Db,
    private readonly logUrls: LogUrlService,
  ) {}

  async composition(cvm: CvmView) {
    return compositionShape(cvm, await readRuntime(this.db, cvm.id), await this.logUrls.containerEndpoints(cvm.vm_uuid));
  }

  async stats(cvm: CvmView) {
    return statsShape(cvm, await readRuntime(this.db, cvm.id));
  }

  async network(cvm: CvmView) {
    return networkShape(cvm, await readRuntime(this.db, cvm.id));
  }
}
