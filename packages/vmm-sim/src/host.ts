/** The simulated dstack host: its VMs, resource accounting, injected faults and persistence. */
import type { HostConfig } from './config.ts';
import { Store } from './store.ts';
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
  private readonly faults = new Map<string, { error: string; times: number }[]>();
  private readonly store: Store;
  private closed = false;

  constructor(readonly config: HostConfig) {
    this.store = new Store(config.dataDir);
  }

  /** Loads persisted VMs; those whose `started` flag is set boot again. */
  load(): void {
    for (const stored of this.store.load()) {
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

  injectFault(f: { method: string; error: string; times?: number }): void {
    const times = f.times ?? 1;
    const method = f.method.replace(/^Teepod\./, '');
    if (times <= 0) {
      this.faults.delete(method);
      return;
    }
    const queue = this.faults.get(method) ?? [];
    queue.push({ error: f.error, times });
    this.faults.set(method, queue);
  }

  takeFault(method: string): string | undefined {
    const queue = this.faults.get(method);
    const head = queue?.[0];
    if (!queue || !head) return undefined;
    head.times -= 1;
    if (head.times <= 0) queue.shift();
    if (queue.length === 0) this.faults.delete(method);
    return head.error;
  }

  close(): void {
    this.closed = true;
    for (const vm of this.vms.values()) vm.dispose();
  }
}
