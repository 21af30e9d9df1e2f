/**
 * The boots the worker follows, read from their hosts in batches: every `pollMs`, one `Status{ids, brief}`
 * per host for all the VMs whose boots are followed on it, instead of one `GetInfo` per VM per poll. A
 * boot being followed then costs a promise and no host call of its own, so the worker can follow many at
 * once (its concurrency) without its polls growing with them. (`brief` leaves out each VM's
 * `configuration`; its status, boot progress, boot error and instance id are there: `VmInfo` in dstack's
 * `vmm/rpc/proto/vmm_rpc.proto`.)
 */
import type { NodeService } from '../services/nodes.ts';
import type { VmInfo } from '../hosts/vmm-client.ts';

interface Waiter {
  resolve: (info: VmInfo | null) => void;
  reject: (e: unknown) => void;
}

interface HostBatch {
  /** host VM id → who waits for its next reading */
  waiting: Map<string, Waiter[]>;
  timer: NodeJS.Timeout | null;
  reading: boolean;
}

export class BootWatch {
  private readonly hosts = new Map<number, HostBatch>();
  /** host reads made (tests, and to tell that reads are shared) */
  reads = 0;

  constructor(
    private readonly nodes: Pick<NodeService, 'client'>,
    private readonly pollMs: number,
  ) {}

  /**
   * The VM as its host reports it at the node's next batched read, within `pollMs` (null: the host has no
   * such VM). A host that cannot be asked rejects every waiter of that read with the driver's error.
   */
  next(nodeId: number, hostVmId: string): Promise<VmInfo | null> {
    let batch = this.hosts.get(nodeId);
    if (!batch) this.hosts.set(nodeId, (batch = { waiting: new Map(), timer: null, reading: false }));
    const b = batch;
    return new Promise((resolve, reject) => {
      const list = b.waiting.get(hostVmId);
      if (list) list.push({ resolve, reject });
      else b.waiting.set(hostVmId, [{ resolve, reject }]);
      this.schedule(nodeId, b);
    });
  }

  private schedule(nodeId: number, b: HostBatch): void {
    if (b.timer || b.reading || !b.waiting.size) return;
    b.timer = setTimeout(() => void this.read(nodeId, b), this.pollMs);
  }

  private async read(nodeId: number, b: HostBatch): Promise<void> {
    b.timer = null;
    b.reading = true;
    const waiting = b.waiting;
    b.waiting = new Map();
    try {
      this.reads++;
      const host = await this.nodes.client(nodeId);
      const vms = await host.status({ ids: [...waiting.keys()], brief: true });
      const byId = new Map(vms.map((v) => [v.id, v]));
      for (const [id, list] of waiting) for (const w of list) w.resolve(byId.get(id) ?? null);
    } catch (e) {
      for (const list of waiting.values()) for (const w of list) w.reject(e);
    } finally {
      b.reading = false;
      this.schedule(nodeId, b);
    }
  }
}
