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
 * A host that cannot be reached is skipped (its CVMs keep their last known state). Ticks never overlap.
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
  idleCvmsOnNode,
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
import { parseHostVmName } from './host-vm-names.ts';
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
  log?: (msg: string, err?: unknown) => void;
}

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
  private readonly opts: Required<Omit<ReconcilerOptions, 'installationId'>> & Pick<ReconcilerOptions, 'installationId'>;

  constructor(
    private readonly db: Db,
    private readonly nodes: NodeService,
    opts: ReconcilerOptions = {},
  ) {
    const intervalMs = opts.intervalMs ?? 5000;
    this.opts = { intervalMs, runtimeMaxAgeMs: intervalMs * 6, refreshPerTick: 20, orphanGraceMs: 5 * 60_000, log: () => {}, ...opts };
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
    const listed = await host.status({ brief: true });
    await this.removeOrphans(nodeId, host, listed);
    const vms = new Map(listed.map((v) => [v.id, v]));
    for (const row of rows) {
      if (this.stopped) return;
      const patch = hostStatePatch(row, vms.get(row.host_vm_id));
      if (patch) await applyHostState(this.db, row.id, row.version, patch);
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

/**
 * The CVM fields the host's view implies (dstack-vmm's VM statuses), or null when nothing changes. Statuses
 * mirror the host's (`running` only once the boot is `done`, `starting` before); a VM being removed is left
 * until it is gone; a VM missing from the host puts the CVM in `error`.
 */
export function hostStatePatch(row: HostedCvmRow, vm: VmInfo | undefined): HostStatePatch | null {
  let next: HostStatePatch;
  if (!vm) {
    next = { status: 'error', boot_progress: null, boot_error: VM_GONE, shutdown_progress: null, instance_id: null };
  } else {
    const status =
      vm.status === 'running' ? (vm.boot_progress === 'done' ? 'running' : 'starting')
      : vm.status === 'exited' || vm.status === 'stopped' || vm.status === 'stopping' ? vm.status
      : null;
    if (!status) return null;
    next =
      status === 'stopped'
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
  const same =
    next.status === row.status &&
    next.boot_progress === row.boot_progress &&
    next.boot_error === row.boot_error &&
    next.shutdown_progress === row.shutdown_progress &&
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
