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
 *    CVMs whose snapshot is older than `runtimeMaxAgeMs`, stalest first, at most `refreshPerTick` per node.
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
import type { LogUrlService } from './log-urls.ts';
import type { NodeService } from './nodes.ts';

export interface ReconcilerOptions {
  /** how often hosts are read, ms (default 5 s) */
  intervalMs?: number;
  /** a runtime snapshot older than this is refreshed, ms (default 6 × interval) */
  runtimeMaxAgeMs?: number;
  /** at most this many snapshots refreshed per node per tick (default 20) */
  refreshPerTick?: number;
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
  private readonly opts: Required<ReconcilerOptions>;

  constructor(
    private readonly db: Db,
    private readonly nodes: NodeService,
    opts: ReconcilerOptions = {},
  ) {
    const intervalMs = opts.intervalMs ?? 5000;
    this.opts = { intervalMs, runtimeMaxAgeMs: intervalMs * 6, refreshPerTick: 20, log: () => {}, ...opts };
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
    if (!rows.length || this.stopped) return;
    const host = await this.nodes.client(nodeId);
    // rows first, host second: a write is conditional on the row version read before the host answered
    const vms = new Map((await host.status({ brief: true })).map((v) => [v.id, v]));
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
