/** The simulated dstack host: its VMs, resource accounting, injected faults and persistence. */
import type { HostConfig } from './config.ts';
import { FaultTable, normalizeMethod } from './faults.ts';
import { Store, type StoredVm } from './store.ts';
import type { SimImage } from './types.ts';
import { SimVm, type VmHost } from './vm.ts';
import { RpcError } from './wire.ts';

export interface Usage {
  cvms: number;
  vcpu: number;
  memory: number;
  disk: number;
  gpuSlots: Set<string>;
}

export class SimHost implements VmHost {
  readonly vms = new Map<string, SimVm>();
  readonly faults = new FaultTable();
  private readonly store: Store;
  private closed = false;

  constructor(readonly config: HostConfig) {
    this.store = new Store(config.dataDir);
  }

  /** Loads persisted VMs; those whose `started` flag is set boot again. */
  load(): void {
    this.boot(this.store.load());
  }

  private boot(records: StoredVm[]): void {
    for (const stored of records) {
      this.vms.set(stored.id, new SimVm(this, stored));
    }
    for (const vm of this.sortedVms()) {
      if (vm.started) {
        this.config.log(`vm ${vm.id}: restarting after host restart`);
        vm.started = false; // start() sets it again
        vm.start();
      }
    }
  }

  image(name: string): SimImage | undefined {
    return this.config.images.find((i) => i.name === name);
  }

  persist(): void {
    if (this.closed) return;
    this.store.save(
      this.sortedVms()
        .filter((vm) => !vm.removing)
        .map((vm) => vm.toStored()),
    );
  }

  removed(vm: SimVm): void {
    if (this.vms.get(vm.id) === vm) this.vms.delete(vm.id);
    this.config.log(`vm ${vm.id}: removed`);
  }

  get(id: string): SimVm {
    const vm = this.vms.get(id);
    if (!vm) throw new RpcError(`vm not found: ${id}`);
    return vm;
  }

  /** VMs in creation order. */
  sortedVms(): SimVm[] {
    return [...this.vms.values()].sort((a, b) => a.createdAtMs - b.createdAtMs || a.id.localeCompare(b.id));
  }

  /** Resources held by VMs that are not being removed (stopped VMs keep their allocation). */
  usage(exceptId?: string): Usage {
    const u: Usage = { cvms: 0, vcpu: 0, memory: 0, disk: 0, gpuSlots: new Set() };
    for (const vm of this.vms.values()) {
      if (vm.removing || vm.id === exceptId) continue;
      u.cvms += 1;
      u.vcpu += vm.configuration.vcpu;
      u.memory += vm.configuration.memory;
      u.disk += vm.configuration.disk_size;
      for (const g of vm.configuration.gpus?.gpus ?? []) u.gpuSlots.add(g.slot);
    }
    return u;
  }

  /**
   * The legacy in-process fault: the next `times` (default 1) calls of `method` fail with the pRPC error
   * `error`; `times <= 0` clears that method's error faults.
   */
  injectFault(f: { method: string; error: string; times?: number }): void {
    const times = f.times ?? 1;
    const method = normalizeMethod(f.method);
    if (times <= 0) {
      this.faults.clear((x) => x.kind === 'error' && x.method === method);
      return;
    }
    this.faults.add({ kind: 'error', method, error: f.error, times });
  }

  /** Consumes one `error` fault for `method` (before the call acts), returning its message. */
  takeFault(method: string): string | undefined {
    const fault = this.faults.take('error', method, 'before');
    return fault ? (fault.error ?? 'injected fault') : undefined;
  }

  /**
   * A host restart while the process keeps running: every VM process dies and the host forgets what it did
   * not keep. `wipe` (default): every VM and its persisted record is gone, as a host reinstalled or rebooted
   * with its state wiped. `stopped`: the VMs are kept but stopped (started flag cleared). `reboot`: the VMs
   * are kept and those meant to run boot again (what a restart of the real VMM does). Returns how many VMs
   * the host had. Injected faults stay.
   */
  restart(mode: 'wipe' | 'stopped' | 'reboot' = 'wipe'): number {
    const kept = this.sortedVms()
      .filter((vm) => !vm.removing)
      .map((vm) => vm.toStored());
    for (const vm of this.vms.values()) vm.dispose();
    const had = this.vms.size;
    this.vms.clear();
    const records = mode === 'wipe' ? [] : mode === 'stopped' ? kept.map((s) => ({ ...s, started: false })) : kept;
    this.store.save(records);
    this.config.log(`host restart (${mode}): ${had} VMs before, ${records.length} kept`);
    this.boot(records);
    return had;
  }

  close(): void {
    this.closed = true;
    this.faults.releaseAll();
    for (const vm of this.vms.values()) vm.dispose();
  }
}
