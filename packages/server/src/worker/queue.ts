/**
 * The operation queue: claims due operations from the store (`FOR UPDATE SKIP LOCKED`, so several workers
 * can share a database), runs up to `concurrency` of them at once, holds each by a lease (`run_after`)
 * renewed while it runs, and decides what a failure means: a retriable one (the host could not be
 * reached) runs again after an exponential backoff with full jitter, any other ends the operation. If the
 * process dies, a lease lapses and the operation is claimed again, to continue from the step it had reached.
 */
import type { Db } from '../db/index.ts';
import { HostError } from '../hosts/vmm-client.ts';
import { claimDue, countActive, makeRunningDue, renewLease, scheduleRetry, type OperationRow } from '../store/operations.ts';
import { opFields, type RunOutcome, type WorkerLog } from './log.ts';

/** What the queue runs a claimed operation with. */
export interface OperationRunner {
  /**
   * Run a claimed operation; it records its own success (or a failure it decided on itself), and may say which
   * (`succeeded` when it says nothing).
   */
  run(op: OperationRow): Promise<RunOutcome | void>;
  /** Record that `op` failed with `message`: the operation and what its CVM now shows. */
  fail(op: OperationRow, message: string): Promise<void>;
  /** Told how each run ended and how long it took, once that is recorded. */
  ended?(op: OperationRow, outcome: RunOutcome, runMs: number): void;
}

export interface QueueOptions {
  /** how often to look for due operations when nobody wakes the queue, ms */
  pollMs: number;
  /** at most this many operations at once */
  concurrency: number;
  /** how long a claim holds an operation; renewed every third of it while the operation runs, ms */
  leaseMs: number;
  retry: RetryPolicy;
  /** a warning, with the fields that name the operation */
  log: WorkerLog;
}

/** When a retriable failure runs again: exponential backoff with full jitter. */
export interface RetryPolicy {
  /** the first retry waits up to this long, ms; each further one up to twice as long as the one before */
  baseMs: number;
  /** no wait is longer than this, ms */
  capMs: number;
  /** an operation claimed this many times (its first run, retries and resumptions) ends at its next retriable failure */
  maxAttempts: number;
}

/** 1 s doubling to 60 s: the waits between ten attempts add up to about two minutes on average, four at most. */
export const DEFAULT_RETRY: RetryPolicy = { baseMs: 1000, capMs: 60_000, maxAttempts: 10 };

/** The wait before the retry that follows `attempt` (1 = the first run): uniform in [0, min(cap, base · 2^(attempt−1))). */
export function retryDelayMs(attempt: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.capMs, policy.baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.floor(random() * ceiling);
}

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
      .catch((e) => this.opts.log({ err: e }, 'operation scan failed'))
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
      const started = Date.now();
      const p = this.run(op)
        .then((outcome) => this.runner.ended?.(op, outcome, Date.now() - started))
        .catch((e) => this.opts.log({ ...opFields(op), err: e }, 'the outcome of the operation could not be recorded; it runs again when its lease lapses'))
        .finally(() => {
          this.running.delete(op.id);
          this.wake();
        });
      this.running.set(op.id, p);
    }
  }

  private async run(op: OperationRow): Promise<RunOutcome> {
    const lease = new Lease(this.db, op.id, this.opts.leaseMs, this.opts.log);
    let failure: { error: unknown } | null = null;
    let outcome: RunOutcome | void = undefined;
    try {
      outcome = await this.runner.run(op);
    } catch (e) {
      failure = { error: e };
    } finally {
      // before anything else is written: a renewal must not overwrite a retry's run_after
      await lease.release();
    }
    if (!failure) return outcome ?? 'succeeded';
    if (this.halted) return 'interrupted'; // the lease lapses and the next start takes it up again
    const e = failure.error;
    const message = e instanceof Error ? e.message : String(e);
    const { retry } = this.opts;
    if (!isRetriable(e)) {
      this.opts.log(opFields(op), `operation failed: ${message}`);
      await this.runner.fail(op, message);
      return 'failed';
    }
    if (op.attempts >= retry.maxAttempts) {
      this.opts.log(opFields(op), `operation failed after ${op.attempts} attempts: ${message}`);
      await this.runner.fail(op, `${message} (gave up after ${op.attempts} attempts)`);
      return 'failed';
    }
    const delay = retryDelayMs(op.attempts, retry);
    this.opts.log({ ...opFields(op), retry_in_ms: delay },
      `operation will retry in ${(delay / 1000).toFixed(1)} s (attempt ${op.attempts} of ${retry.maxAttempts}): ${message}`);
    await scheduleRetry(this.db, op.id, delay, message);
    return 'retry';
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
        .catch((e) => log({ op_id: id, err: e }, 'the lease of the operation could not be renewed'));
    }, Math.max(1, Math.floor(leaseMs / 3)));
    this.timer.unref();
  }

  /** Stop renewing, once a renewal under way is done. */
  async release(): Promise<void> {
    clearInterval(this.timer);
    await this.renewing;
  }
}
