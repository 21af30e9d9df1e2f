/**
 * The operation queue: claims due operations from the store (`FOR UPDATE SKIP LOCKED`, so several workers
 * can share a database), runs up to `concurrency` of them at once, holds each by a lease (`run_after`)
 * renewed while it runs, and decides what a failure means: a retriable one (the host could not be
 * reached) runs again later, any other ends the operation. If the process dies, a lease lapses and the
 * operation is claimed again, to continue from the step it had reached.
 */
import type { Db } from '../db/index.ts';
import { HostError } from '../hosts/vmm-client.ts';
import { claimDue, countActive, makeRunningDue, renewLease, scheduleRetry, type OperationRow } from '../store/operations.ts';

/** What the queue runs a claimed operation with. */
export interface OperationRunner {
  /** Run a claimed operation; it records its own success (or a failure it decided on itself). */
  run(op: OperationRow): Promise<void>;
  /** Record that `op` failed with `message`: the operation and what its CVM now shows. */
  fail(op: OperationRow, message: string): Promise<void>;
}

export interface QueueOptions {
  /** how often to look for due operations when nobody wakes the queue, ms */
  pollMs: number;
  /** at most this many operations at once */
  concurrency: number;
  /** how long a claim holds an operation; renewed every third of it while the operation runs, ms */
  leaseMs: number;
  log: (msg: string, err?: unknown) => void;
}

const RETRY_MS = 2000;
const MAX_ATTEMPTS = 5;

/** A retriable failure: the host could not be reached (it answered nothing, or not in time). */
export function isRetriable(e: unknown): boolean {
  return e instanceof HostError && !e.reachable;
}

export class OperationQueue {
  private timer: NodeJS.Timeout | null = null;
  private readonly running = new Map<number, Promise<void>>();
  private scanning = false;
  private rescan = false;
  private halted = false;

  constructor(
    private readonly db: Db,
    private readonly runner: OperationRunner,
    private readonly opts: QueueOptions,
  ) {}

  /** True once `stop` was called: operations in hand return at their next step. */
  get stopping(): boolean {
    return this.halted;
  }

  /** Start looking for work; operations left running by a previous process are taken up again at once. */
  async start(): Promise<void> {
    this.halted = false;
    await makeRunningDue(this.db);
    this.timer = setInterval(() => this.wake(), this.opts.pollMs);
    this.timer.unref();
    this.wake();
  }

  /** Finish what is in hand (each operation checks `stopping` between steps), then stop. */
  async stop(): Promise<void> {
    this.halted = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await Promise.allSettled([...this.running.values()]);
  }

  /** Look for due operations now (called after a request queues one). */
  wake(): void {
    if (this.halted) return;
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
      if ((await countActive(this.db)) === 0) return;
      await new Promise((res) => setTimeout(res, 50));
    }
    throw new Error('operations still running');
  }

  private async scan(): Promise<void> {
    while (!this.halted && this.running.size < this.opts.concurrency) {
      // never claim one this worker already has in hand, even if its lease could not be renewed
      const op = await claimDue(this.db, this.opts.leaseMs, [...this.running.keys()]);
      if (!op) return;
      const p = this.run(op)
        .catch((e) => this.opts.log(`operation ${op.id} (${op.kind}): its outcome could not be recorded; it runs again when its lease lapses`, e))
        .finally(() => {
          this.running.delete(op.id);
          this.wake();
        });
      this.running.set(op.id, p);
    }
  }

  private async run(op: OperationRow): Promise<void> {
    const lease = new Lease(this.db, op.id, this.opts.leaseMs, this.opts.log);
    let failure: { error: unknown } | null = null;
    try {
      await this.runner.run(op);
    } catch (e) {
      failure = { error: e };
    } finally {
      // before anything else is written: a renewal must not overwrite a retry's run_after
      await lease.release();
    }
    if (!failure) return;
    if (this.halted) return; // the lease lapses and the next start takes it up again
    const e = failure.error;
    const message = e instanceof Error ? e.message : String(e);
    const retry = isRetriable(e) && op.attempts < MAX_ATTEMPTS;
    this.opts.log(`operation ${op.id} (${op.kind}) ${retry ? 'will retry' : 'failed'}: ${message}`);
    if (retry) await scheduleRetry(this.db, op.id, RETRY_MS, message);
    else await this.runner.fail(op, message);
  }
}

/** Keeps an operation's lease while it runs: renewed every third of the lease. */
class Lease {
  private readonly timer: NodeJS.Timeout;
  private renewing: Promise<void> = Promise.resolve();

  constructor(db: Db, id: number, leaseMs: number, log: QueueOptions['log']) {
    this.timer = setInterval(() => {
      this.renewing = this.renewing
        .then(() => renewLease(db, id, leaseMs))
        .catch((e) => log(`operation ${id}: its lease could not be renewed`, e));
    }, Math.max(1, Math.floor(leaseMs / 3)));
    this.timer.unref();
  }

  /** Stop renewing, once a renewal under way is done. */
  async release(): Promise<void> {
    clearInterval(this.timer);
    await this.renewing;
  }
}
