/**
 * The operation queue: claims due operations from the store (`FOR UPDATE SKIP LOCKED`, so several workers
 * can share a database), runs up to `concurrency` of them at once, holds each by a lease (`run_after`)
 * renewed while it runs, and decides what a failure means: a retriable one (the host could not be
 * reached, or answered a 5xx) runs again after an exponential backoff with full jitter, any other ends the operation.
 *
 * Several workers (one per server replica) share the operations: each has an owner id, random per start,
 * recorded on the operations it claims (`lease_owner`), and holds a session-level advisory lock keyed from
 * it on a connection of its own for as long as it runs. Another worker takes a running operation over only
 * when its lease lapsed or its owner's lock is free (that process died, or its lock connection broke), so a
 * restart after a crash resumes at once while the operations of the replicas that still run are left alone.
 * A worker whose lock connection breaks claims nothing more and abandons what it has in hand at the next
 * step (another worker takes it over), then takes a new owner id and lock; so does an operation whose lease
 * renewal or step finds it leased to another worker.
 */
import type { Db } from '../db/index.ts';
import { HostError } from '../hosts/vmm-client.ts';
import {
  claimDue,
  countActive,
  releaseOrphanedLeases,
  renewLease,
  scheduleRetry,
  WORKER_LOCK_NAMESPACE,
  type OperationRow,
} from '../store/operations.ts';
import { ClaimLoop } from './claim-loop.ts';
import { opFields, type RunOutcome, type WorkerLog } from './log.ts';

/** A claimed operation as the worker holds it. */
export interface Claim {
  /** the owner id the operation is leased to */
  readonly owner: number;
  /** return at the next step: the worker is stopping, or the operation is no longer this worker's */
  stopping(): boolean;
  /** another worker has the operation now: stop at the next step and record nothing more */
  abandon(): void;
}

/** Thrown by a step of an operation that another worker took over: the queue records nothing for it. */
export class LeaseLostError extends Error {
  override name = 'LeaseLostError';
}

/** What the queue runs a claimed operation with. */
export interface OperationRunner {
  /**
   * Run a claimed operation; it records its own success (or a failure it decided on itself), and may say which
   * (`succeeded` when it says nothing).
   */
  run(op: OperationRow, claim: Claim): Promise<RunOutcome | void>;
  /** Record that `op` failed with `message`: the operation and what its CVM now shows. */
  fail(op: OperationRow, message: string, claim: Claim): Promise<void>;
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

/**
 * A retriable failure: the host could not be reached (it answered nothing, or not in time), or answered with a
 * 5xx (its proxy or process failing, not dstack-vmm refusing: its refusals are 4xx). Every step reads the host
 * before it acts, so running the operation again repeats nothing.
 */
export function isRetriable(e: unknown): boolean {
  return e instanceof HostError && (!e.reachable || (e.status ?? 0) >= 500);
}

class HeldClaim implements Claim {
  abandoned = false;
  constructor(
    readonly owner: number,
    private readonly queue: OperationQueue,
  ) {}
  stopping(): boolean {
    return this.abandoned || this.queue.stopping;
  }
  abandon(): void {
    this.abandoned = true;
  }
}

export class OperationQueue {
  private readonly running = new Map<number, { done: Promise<void>; claim: HeldClaim }>();
  /** this worker's owner lock, poll and scans */
  private readonly loop: ClaimLoop;

  constructor(
    private readonly db: Db,
    private readonly runner: OperationRunner,
    private readonly opts: QueueOptions,
  ) {
    this.loop = new ClaimLoop(db, {
      namespace: WORKER_LOCK_NAMESPACE,
      connectionName: 'opencvm-worker',
      pollMs: opts.pollMs,
      releaseOrphans: () => releaseOrphanedLeases(db),
      scan: (owner) => this.scan(owner),
      onLost: (owner, err) => this.lost(owner, err),
      what: 'operation',
      log: (err, msg) => opts.log({ err }, msg),
    });
  }

  /** True once `stop` was called: operations in hand return at their next step. */
  get stopping(): boolean {
    return this.loop.stopping;
  }

  /** This worker's owner id (null while it holds no lock: it claims nothing then). */
  get owner(): number | null {
    return this.loop.owner;
  }

  /**
   * Take an owner id and its lock, then start looking for work. Operations whose worker is gone (a previous
   * process of this server, or another replica that died) are taken up again at once; those of live
   * workers only once their lease lapses.
   */
  start(): Promise<void> {
    return this.loop.start();
  }

  /** Finish what is in hand (each operation checks `stopping` between steps), then let go of the lock and stop. */
  stop(): Promise<void> {
    return this.loop.stop(() => Promise.allSettled([...this.running.values()].map((r) => r.done)));
  }

  /** Look for due operations now (called after a request queues one). */
  wake(): void {
    this.loop.wake();
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

  /** The lock connection broke: claim nothing as this owner, and abandon what it has in hand. */
  private lost(owner: number, err: unknown): void {
    const mine = [...this.running.values()].filter((r) => r.claim.owner === owner);
    for (const r of mine) r.claim.abandon();
    if (!this.loop.stopping) {
      this.opts.log({ err }, `worker lost its database lock connection: ${mine.length} operation(s) in hand are left to other workers; it takes a new lock`);
    }
  }

  /** Claim due operations as `owner` while slots are free, and run each. */
  private async scan(owner: number): Promise<void> {
    while (!this.loop.stopping && this.loop.owner === owner && this.running.size < this.opts.concurrency) {
      // never claim one this worker already has in hand, even if its lease could not be renewed
      const op = await claimDue(this.db, this.opts.leaseMs, owner, [...this.running.keys()]);
      if (!op) return;
      const claim = new HeldClaim(owner, this);
      // the lock may have been lost while the claim was under way: the operation is left to the others
      if (this.loop.owner !== owner) claim.abandon();
      const started = Date.now();
      const done = this.run(op, claim)
        .then((outcome) => this.runner.ended?.(op, outcome, Date.now() - started))
        .catch((e) => this.opts.log({ ...opFields(op), err: e }, 'the outcome of the operation could not be recorded; it runs again when its lease lapses'))
        .finally(() => {
          this.running.delete(op.id);
          this.wake();
        });
      this.running.set(op.id, { done, claim });
    }
  }

  private async run(op: OperationRow, claim: HeldClaim): Promise<RunOutcome> {
    const lease = new Lease(this.db, op.id, claim, this.opts.leaseMs, this.opts.log);
    let failure: { error: unknown } | null = null;
    let outcome: RunOutcome | void = undefined;
    try {
      if (claim.abandoned) return 'interrupted';
      outcome = await this.runner.run(op, claim);
    } catch (e) {
      failure = { error: e };
    } finally {
      // before anything else is written: a renewal must not overwrite a retry's run_after
      await lease.release();
    }
    if (!failure) return claim.abandoned ? 'interrupted' : (outcome ?? 'succeeded');
    if (this.loop.stopping) return 'interrupted'; // the lease lapses and the next start takes it up again
    const e = failure.error;
    if (claim.abandoned || e instanceof LeaseLostError) {
      this.opts.log(opFields(op), 'operation taken over by another worker; this one stopped at its last step');
      return 'interrupted';
    }
    const message = e instanceof Error ? e.message : String(e);
    const { retry } = this.opts;
    if (!isRetriable(e)) {
      this.opts.log(opFields(op), `operation failed: ${message}`);
      return this.recordFailure(op, message, claim);
    }
    if (op.attempts >= retry.maxAttempts) {
      this.opts.log(opFields(op), `operation failed after ${op.attempts} attempts: ${message}`);
      return this.recordFailure(op, `${message} (gave up after ${op.attempts} attempts)`, claim);
    }
    const delay = retryDelayMs(op.attempts, retry);
    this.opts.log({ ...opFields(op), retry_in_ms: delay },
      `operation will retry in ${(delay / 1000).toFixed(1)} s (attempt ${op.attempts} of ${retry.maxAttempts}): ${message}`);
    await scheduleRetry(this.db, op.id, delay, message);
    return 'retry';
  }

  /** Record the failure, unless another worker took the operation over meanwhile (then it records the outcome). */
  private async recordFailure(op: OperationRow, message: string, claim: HeldClaim): Promise<RunOutcome> {
    try {
      await this.runner.fail(op, message, claim);
      return 'failed';
    } catch (e) {
      if (!(e instanceof LeaseLostError)) throw e;
      this.opts.log(opFields(op), 'operation taken over by another worker before its failure was recorded; that worker records its outcome');
      return 'interrupted';
    }
  }
}

/**
 * Keeps an operation's lease while it runs: renewed every third of the lease. A renewal that finds the
 * operation no longer running under this worker's owner id abandons it.
 */
class Lease {
  private readonly timer: NodeJS.Timeout;
  private renewing: Promise<void> = Promise.resolve();

  constructor(db: Db, id: number, claim: Claim, leaseMs: number, log: QueueOptions['log']) {
    this.timer = setInterval(() => {
      this.renewing = this.renewing
        .then(async () => {
          if (!(await renewLease(db, id, leaseMs, claim.owner))) claim.abandon();
        })
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
