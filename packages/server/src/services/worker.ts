/**
 * The operation worker: takes due operations from the store, drives the host through the pRPC
 * driver, and records progress on the CVM. An operation holds a lease (`run_after`) while it runs; if
 * the server dies, the lease lapses and the operation is taken up again where its records say it was.
 */
import type { Db } from '../db/index.ts';
import { HostError, type VmConfiguration, type VmInfo } from '../hosts/vmm-client.ts';
import type { NodeService } from './nodes.ts';
import { applyConfig } from '../store/cvm-config.ts';
import { recordRevision } from '../store/revisions.ts';
import type { UpdateParams } from './updates.ts';
import { hostUpdateOf } from '@opencvm/core';

interface OperationRow {
  id: number;
  correlation_id: string;
  cvm_id: number;
  kind: string;
  target_status: string;
  attempts: number;
  params: { force?: boolean } & Partial<UpdateParams>;
}

interface CvmRow {
  id: number;
  vm_uuid: string;
  name: string;
  node_id: number;
  host_vm_id: string | null;
  app_id: string;
  image: string;
  app_compose: string;
  vcpu: number;
  memory_mb: number;
  disk_gb: number;
  encrypted_env: string | null;
  user_config: string | null;
  ports: VmConfiguration['ports'];
  gpus: VmConfiguration['gpus'] | null;
  hugepages: boolean;
  pin_numa: boolean;
  shutdown_timeout_s: number | null;
  allow_force_stop: boolean;
}

export interface WorkerOptions {
  /** KMS URLs guests are told to ask for their keys (`<public url>/kms`). */
  kmsUrls: string[];
  /** how often the worker looks for due operations when nobody wakes it, ms */
  pollMs?: number;
  /** how often a booting VM's progress is read from its host, ms */
  bootPollMs?: number;
  /** give up on a boot after this long, ms */
  bootTimeoutMs?: number;
  /** a graceful shutdown that takes longer than this becomes a forced stop, ms */
  shutdownTimeoutMs?: number;
  /** at most this many operations at once */
  concurrency?: number;
  log?: (msg: string, err?: unknown) => void;
  /** called after a boot completed and the CVM is recorded as running */
  onBooted?: (cvmId: number) => void;
}

const LEASE = "now() + interval '60 seconds'";
const MAX_ATTEMPTS = 5;

export class Worker {
  private timer: NodeJS.Timeout | null = null;
  private running = new Set<Promise<void>>();
  private scanning = false;
  private rescan = false;
  private stopped = false;
  private readonly opts: Required<WorkerOptions>;

  constructor(
    private readonly db: Db,
    private readonly nodes: NodeService,
    opts: WorkerOptions,
  ) {
    this.opts = { pollMs: 1000, bootPollMs: 200, bootTimeoutMs: 10 * 60_000, shutdownTimeoutMs: 5 * 60_000, concurrency: 32, log: () => {}, onBooted: () => {}, ...opts };
  }

  /** The KMS URLs new VMs are given (known once the server listens). */
  setKmsUrls(urls: string[]): void {
    this.opts.kmsUrls = urls;
  }

  /** Start looking for work; operations left running by a previous process are taken up again at once. */
  async start(): Promise<void> {
    this.stopped = false;
    await this.db.query(`UPDATE operations SET run_after = now() WHERE state = 'running'`);
    this.timer = setInterval(() => this.wake(), this.opts.pollMs);
    this.timer.unref();
    this.wake();
  }

  /** Finish what is in hand (each operation checks `stopped` between steps), then stop. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await Promise.allSettled([...this.running]);
  }

  /** Look for due operations now (called after a request queues one). */
  wake(): void {
    if (this.stopped) return;
    if (this.scanning) {
      this.rescan = true;
      return;
    }
    this.scanning = true;
    this.scan()
      .catch((e) => this.opts.log('operation scan failed', e))
      .finally(() => {
        this.scanning = false;
        if (this.rescan) {
          this.rescan = false;
          this.wake();
        }
      });
  }

  /** Wait until no operation is queued or running (tests and shutdown). */
  async idle(timeoutMs = 30_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      const [r] = await this.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM operations WHERE state IN ('pending','running')`);
      if (r.n === 0) return;
      await new Promise((res) => setTimeout(res, 50));
    }
    throw new Error('operations still running');
  }

  private async scan(): Promise<void> {
    while (!this.stopped && this.running.size < this.opts.concurrency) {
      const [op] = await this.db.query<OperationRow>(
        `UPDATE operations SET state = 'running', started_at = coalesce(started_at, now()), attempts = attempts + 1,
                run_after = ${LEASE}
          WHERE id = (SELECT id FROM operations WHERE state IN ('pending','running') AND run_after <= now()
                       ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
          RETURNING id, correlation_id, cvm_id, kind, target_status, attempts, params`,
      );
      if (!op) return;
      const p = this.run(op).finally(() => {
        this.running.delete(p);
        this.wake();
      });
      this.running.add(p);
    }
  }

  private async run(op: OperationRow): Promise<void> {
    try {
      switch (op.kind) {
        case 'create':
          return await this.create(op);
        case 'start':
          return await this.bootAgain(op);
        case 'stop':
          return await this.halt(op, 'force');
        case 'shutdown':
          return await this.halt(op, 'graceful');
        case 'restart':
          return await this.restart(op);
        case 'delete':
          return await this.remove(op);
        case 'update':
          return await this.update(op);
        case 'refresh_instance_id':
          return await this.refreshInstanceId(op);
        default:
          throw new Error(`unknown operation kind "${op.kind}"`);
      }
    } catch (e) {
      if (this.stopped) return; // the lease lapses and the next start takes it up again
      const retriable = e instanceof HostError && !e.reachable && op.attempts < MAX_ATTEMPTS;
      const message = e instanceof Error ? e.message : String(e);
      this.opts.log(`operation ${op.id} (${op.kind}) ${retriable ? 'will retry' : 'failed'}: ${message}`);
      if (retriable) {
        await this.db.query(`UPDATE operations SET run_after = now() + interval '2 seconds', error = $2 WHERE id = $1`, [op.id, message]);
      } else {
        await this.fail(op, message);
      }
    }
  }

  /** First boot: CreateVm (stopped), remember the host's VM id, StartVm, follow the boot to `done`. */
  private async create(op: OperationRow): Promise<void> {
    const cvm = await this.cvm(op.cvm_id);
    const host = await this.nodes.client(cvm.node_id);
    let hostVmId = cvm.host_vm_id;
    if (!hostVmId) {
      const { id } = await host.createVm(this.vmConfiguration(cvm));
      hostVmId = id;
      await this.db.query(`UPDATE cvms SET host_vm_id = $2, updated_at = now() WHERE id = $1`, [cvm.id, id]);
      await this.step(op, 'created');
    }
    const info = await host.getInfo(hostVmId);
    if (!info) throw new Error(`host lost VM ${hostVmId}`);
    if (info.status !== 'running') await host.startVm(hostVmId);
    await this.step(op, 'booting');
    await this.followBoot(op, cvm.id, hostVmId);
  }

  /** Boot an existing host VM again. */
  private async bootAgain(op: OperationRow, failWith?: string): Promise<void> {
    const { host, hostVmId, cvm } = await this.hostVm(op);
    const info = await host.getInfo(hostVmId);
    if (!info) throw new Error(`the host no longer has VM ${hostVmId}`);
    // retried after a crash: the VM may already be booting; never start it twice
    if (info.status !== 'running') await host.startVm(hostVmId);
    await this.db.query(`UPDATE cvms SET boot_error = NULL, exited_at = NULL, updated_at = now() WHERE id = $1`, [cvm.id]);
    await this.step(op, 'booting');
    await this.followBoot(op, cvm.id, hostVmId, failWith);
  }

  /** Force (StopVm: the process is killed) or graceful (ShutdownVm: containers stop cleanly first). */
  private async halt(op: OperationRow, mode: 'force' | 'graceful', finish = true, statusAfter = 'stopped'): Promise<void> {
    const { host, hostVmId, cvm } = await this.hostVm(op);
    let info = await host.getInfo(hostVmId);
    if (!info) throw new Error(`the host no longer has VM ${hostVmId}`);
    if (info.status !== 'stopped') {
      if (mode === 'graceful' && info.status === 'running') {
        if (!info.shutdown_progress) await host.shutdownVm(hostVmId);
      } else if (info.status !== 'stopping') {
        await host.stopVm(hostVmId);
      }
      await this.step(op, mode === 'graceful' ? 'shutting down' : 'stopping');
      const graceMs = cvm.shutdown_timeout_s != null ? cvm.shutdown_timeout_s * 1000 : this.opts.shutdownTimeoutMs;
      const deadline = Date.now() + (mode === 'graceful' ? graceMs : 60_000);
      let last = '';
      while (!this.stopped) {
        info = await host.getInfo(hostVmId);
        if (!info) throw new Error(`the host lost VM ${hostVmId} while it stopped`);
        const seen = `${info.status}|${info.shutdown_progress}`;
        if (seen !== last) {
          last = seen;
          await this.recordHostState(cvm.id, info, op);
        }
        if (info.status === 'stopped') break;
        if (Date.now() > deadline) {
          if (mode === 'force') throw new Error(`VM did not stop within 60 s (status ${info.status})`);
          // a guest that does not finish its graceful shutdown is stopped the hard way, if the CVM allows it
          if (!cvm.allow_force_stop) throw new Error(`graceful shutdown did not finish within ${graceMs / 1000} s, and allow_force_stop is off`);
          mode = 'force';
          await host.stopVm(hostVmId);
        }
        await new Promise((r) => setTimeout(r, this.opts.bootPollMs));
      }
      if (this.stopped) return;
    }
    await this.db.tx(async (q) => {
      await q.query(
        `UPDATE cvms SET status = $2, boot_progress = NULL, boot_error = NULL, shutdown_progress = NULL,
                started_at = NULL, exited_at = now(), runtime = NULL, updated_at = now() WHERE id = $1`,
        [cvm.id, statusAfter],
      );
      if (finish) await q.query(`UPDATE operations SET state = 'succeeded', step = 'stopped', finished_at = now(), error = NULL WHERE id = $1`, [op.id]);
    });
  }

  /** Graceful by default (`force: true` skips the graceful phase), then boot again. */
  private async restart(op: OperationRow): Promise<void> {
    const [row] = await this.db.query<{ step: string | null }>('SELECT step FROM operations WHERE id = $1', [op.id]);
    if (row.step !== 'booting' && row.step !== 'restarting') {
      await this.halt(op, op.params.force ? 'force' : 'graceful', false, 'restarting');
      if (this.stopped) return;
      await this.step(op, 'restarting');
    }
    await this.bootAgain(op);
  }

  /** Remove the VM from its host (and its disk there), then retire the record: the name becomes free. */
  private async remove(op: OperationRow): Promise<void> {
    const cvm = await this.cvm(op.cvm_id);
    if (cvm.host_vm_id) {
      const host = await this.nodes.client(cvm.node_id);
      const info = await host.getInfo(cvm.host_vm_id);
      if (info && info.status !== 'removing') await host.removeVm(cvm.host_vm_id);
      await this.step(op, 'removing');
      await this.untilRemoved(op, cvm.node_id, cvm.host_vm_id);
      if (this.stopped) return;
    }
    await this.db.tx(async (q) => {
      await q.query(
        `UPDATE cvms SET status = 'deleted', deleted_at = now(), encrypted_env = NULL, user_config = NULL, runtime = NULL,
                boot_progress = NULL, shutdown_progress = NULL, updated_at = now() WHERE id = $1`,
        [cvm.id],
      );
      await q.query(`UPDATE operations SET state = 'succeeded', step = 'deleted', finished_at = now(), error = NULL WHERE id = $1`, [op.id]);
    });
  }

  /**
   * A configuration update: stop (gracefully) if it runs, UpdateVm on the host, record the new
   * configuration (and a revision if the compose hash moved), boot again if it ran. A host that refuses
   * the update keeps the VM as it was: the CVM is booted on its previous configuration and the
   * operation fails with the host's reason. Steps: (halt) → applying → applied → booting.
   */
  private async update(op: OperationRow): Promise<void> {
    const p = op.params as UpdateParams;
    const [{ step }] = await this.db.query<{ step: string | null }>('SELECT step FROM operations WHERE id = $1', [op.id]);
    if (step === 'reverting') return this.bootAgain(op, (await this.opError(op)) ?? 'the host refused the update');
    if (step !== 'applied' && step !== 'booting') {
      if (step !== 'applying') {
        await this.halt(op, 'graceful', false, 'updating');
        if (this.stopped) return;
        await this.step(op, 'applying');
      }
      const { host, hostVmId } = await this.hostVm(op);
      try {
        await host.updateVm(hostVmId, hostUpdateOf(p.previous, p.next));
      } catch (e) {
        if (!(e instanceof HostError) || !e.reachable) throw e;
        const reason = `the host refused the update: ${e.message}`;
        this.opts.log(`operation ${op.id} (update): ${reason}`);
        await this.db.query(`UPDATE operations SET step = 'reverting', error = $2 WHERE id = $1`, [op.id, reason]);
        if (p.restart) return this.bootAgain(op, reason);
        await this.db.tx(async (q) => {
          await q.query(`UPDATE cvms SET status = 'stopped', updated_at = now() WHERE id = $1`, [op.cvm_id]);
          await q.query(`UPDATE operations SET state = 'failed', finished_at = now() WHERE id = $1`, [op.id]);
        });
        return;
      }
      await this.db.tx(async (q) => {
        await applyConfig(q, op.cvm_id, p.next);
        if (p.next.compose_hash !== p.previous.compose_hash) {
          await recordRevision(q, { cvmId: op.cvm_id, userId: p.triggered_by ?? null, operationType: p.operation_type, operationId: op.id, correlationId: op.correlation_id });
        }
        await q.query(`UPDATE operations SET step = 'applied', run_after = ${LEASE} WHERE id = $1`, [op.id]);
      });
    }
    if (p.restart) return this.bootAgain(op);
    await this.db.tx(async (q) => {
      await q.query(`UPDATE cvms SET status = 'stopped', updated_at = now() WHERE id = $1`, [op.cvm_id]);
      await q.query(`UPDATE operations SET state = 'succeeded', step = 'done', finished_at = now(), error = NULL WHERE id = $1`, [op.id]);
    });
  }

  /**
   * A new instance id (seed 004): the guest derives it from a seed the host keeps with the VM, so the VM
   * is removed from its host and created again with the same configuration; its first boot generates a
   * new seed and id. The old id was cleared when the operation was queued and is never recorded again, and the disk is new,
   * since the disk key is per instance. Steps: (halt) → removing → (create's steps).
   */
  private async refreshInstanceId(op: OperationRow): Promise<void> {
    const [{ step }] = await this.db.query<{ step: string | null }>('SELECT step FROM operations WHERE id = $1', [op.id]);
    if (step === null || step === 'shutting down' || step === 'stopping') {
      const cvm = await this.cvm(op.cvm_id);
      if (cvm.host_vm_id) await this.halt(op, 'graceful', false, 'restarting');
      if (this.stopped) return;
      await this.step(op, 'removing');
    }
    let cvm = await this.cvm(op.cvm_id);
    if (cvm.host_vm_id && (step === null || step === 'shutting down' || step === 'stopping' || step === 'removing')) {
      const host = await this.nodes.client(cvm.node_id);
      const info = await host.getInfo(cvm.host_vm_id);
      if (info && info.status !== 'removing') await host.removeVm(cvm.host_vm_id);
      await this.untilRemoved(op, cvm.node_id, cvm.host_vm_id);
      if (this.stopped) return;
      await this.db.query(
        `UPDATE cvms SET host_vm_id = NULL, instance_id = NULL, status = 'starting', runtime = NULL, updated_at = now() WHERE id = $1`,
        [cvm.id],
      );
      cvm = await this.cvm(op.cvm_id);
    }
    await this.create(op);
  }

  /** Wait until the host no longer has the VM (RemoveVm is asynchronous), renewing the operation's lease. */
  private async untilRemoved(op: OperationRow, nodeId: number, hostVmId: string): Promise<void> {
    const host = await this.nodes.client(nodeId);
    const deadline = Date.now() + 120_000;
    let renewAt = Date.now() + 10_000;
    while (!this.stopped && (await host.getInfo(hostVmId))) {
      if (Date.now() > deadline) throw new Error('the host did not remove the VM within 120 s');
      if (Date.now() > renewAt) {
        await this.db.query(`UPDATE operations SET run_after = ${LEASE} WHERE id = $1`, [op.id]);
        renewAt = Date.now() + 10_000;
      }
      await new Promise((r) => setTimeout(r, this.opts.bootPollMs));
    }
  }

  private async opError(op: OperationRow): Promise<string | null> {
    const [row] = await this.db.query<{ error: string | null }>('SELECT error FROM operations WHERE id = $1', [op.id]);
    return row?.error ?? null;
  }

  private async hostVm(op: OperationRow) {
    const cvm = await this.cvm(op.cvm_id);
    if (!cvm.host_vm_id) throw new Error('the CVM has no VM on its host');
    return { cvm, hostVmId: cvm.host_vm_id, host: await this.nodes.client(cvm.node_id) };
  }

  /** Follow a boot to `done`; the operation then succeeds, or fails with `failWith` (a refused update that booted the old configuration again). */
  private async followBoot(op: OperationRow, cvmId: number, hostVmId: string, failWith?: string): Promise<void> {
    const cvm = await this.cvm(cvmId);
    const host = await this.nodes.client(cvm.node_id);
    const deadline = Date.now() + this.opts.bootTimeoutMs;
    let last = '';
    while (!this.stopped) {
      const info = await host.getInfo(hostVmId);
      if (!info) throw new Error(`host lost VM ${hostVmId} while it booted`);
      const seen = `${info.status}|${info.boot_progress}|${info.boot_error}|${info.instance_id}`;
      if (seen !== last) {
        last = seen;
        await this.recordHostState(cvmId, info, op);
      }
      if (info.boot_error) throw new Error(`boot failed: ${info.boot_error}`);
      if (info.status === 'exited' || info.status === 'stopped') throw new Error(`VM ${info.status} during boot`);
      if (info.status === 'running' && info.boot_progress === 'done') {
        await this.db.tx(async (q) => {
          await q.query(`UPDATE cvms SET status = 'running', started_at = now(), updated_at = now() WHERE id = $1`, [cvmId]);
          await q.query(`UPDATE operations SET state = $2, step = 'done', finished_at = now(), error = $3 WHERE id = $1`,
            [op.id, failWith ? 'failed' : 'succeeded', failWith ?? null]);
        });
        this.opts.onBooted(cvmId);
        return;
      }
      if (Date.now() > deadline) throw new Error(`boot did not finish within ${this.opts.bootTimeoutMs / 1000}s (last step: ${info.boot_progress})`);
      await new Promise((r) => setTimeout(r, this.opts.bootPollMs));
    }
  }

  /** Copy what the host says about a VM onto the CVM record, and renew the operation's lease. */
  private async recordHostState(cvmId: number, info: VmInfo, op: OperationRow) {
    // a refresh retires the old instance id: the VM being stopped still reports it, and it must not come back
    const retired = op.kind === 'refresh_instance_id' ? (op.params as { old_instance_id?: string | null }).old_instance_id : null;
    const instanceId = info.instance_id && info.instance_id !== retired ? info.instance_id : '';
    await this.db.tx(async (q) => {
      await q.query(
        `UPDATE cvms SET boot_progress = $2, boot_error = nullif($3, ''), shutdown_progress = nullif($4, ''),
                instance_id = coalesce(nullif($5, ''), instance_id), updated_at = now() WHERE id = $1`,
        [cvmId, info.boot_progress ?? null, info.boot_error ?? '', info.shutdown_progress ?? '', instanceId],
      );
      // the operation's `step` is its phase (booting, stopping…), which a resumed operation goes by
      await q.query(`UPDATE operations SET run_after = ${LEASE} WHERE id = $1`, [op.id]);
    });
  }

  private async step(op: OperationRow, step: string) {
    await this.db.query(`UPDATE operations SET step = $2, run_after = ${LEASE} WHERE id = $1`, [op.id, step]);
  }

  private async fail(op: OperationRow, message: string) {
    await this.db.tx(async (q) => {
      await q.query(`UPDATE operations SET state = 'failed', error = $2, finished_at = now() WHERE id = $1`, [op.id, message]);
      if (op.kind === 'create' || op.kind === 'start' || op.kind === 'restart') {
        await q.query(
          `UPDATE cvms SET status = CASE WHEN host_vm_id IS NULL THEN 'error' ELSE 'exited' END,
                  boot_error = coalesce(boot_error, $2), exited_at = now(), updated_at = now() WHERE id = $1`,
          [op.cvm_id, message],
        );
      }
    });
    if (['stop', 'shutdown', 'delete', 'update', 'refresh_instance_id'].includes(op.kind)) await this.statusFromHost(op.cvm_id);
  }

  /** After a failed stop or delete, show what the host says the VM is doing (or `error` if unreachable). */
  private async statusFromHost(cvmId: number): Promise<void> {
    const cvm = await this.cvm(cvmId);
    let status = 'error';
    try {
      const info = cvm.host_vm_id ? await (await this.nodes.client(cvm.node_id)).getInfo(cvm.host_vm_id) : null;
      if (info) status = info.status === 'running' && info.boot_progress !== 'done' ? 'starting' : info.status;
    } catch {
      /* host unreachable: error */
    }
    await this.db.query(`UPDATE cvms SET status = $2, updated_at = now() WHERE id = $1`, [cvmId, status]);
  }

  private async cvm(id: number): Promise<CvmRow> {
    const [row] = await this.db.query<CvmRow>('SELECT * FROM cvms WHERE id = $1', [id]);
    if (!row) throw new Error(`CVM ${id} vanished`);
    return row;
  }

  private vmConfiguration(c: CvmRow): VmConfiguration {
    return {
      name: c.name,
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
      kms_urls: this.opts.kmsUrls,
      stopped: true,
    };
  }
}
