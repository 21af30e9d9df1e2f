/**
 * The operation worker: the queue (`queue.ts`) claims due operations from the store, and the module of
 * each operation's kind (`ops/`) drives the host through the pRPC driver, recording progress on the CVM
 * and the operation's `step`, so an operation taken up again after a crash continues where it was.
 */
import type { Db } from '../db/index.ts';
import type { NodeService } from '../services/nodes.ts';
import { recordBootFailure, setStatus } from '../store/cvm-records.ts';
import { failOperation, lockOwnedOperation, setOwnedStep, type OperationRow } from '../store/operations.ts';
import { operationProgress } from '../store/operation-stats.ts';
import { BootWatch } from './boot-watch.ts';
import type { OpContext, OpSettings } from './context.ts';
import { SILENT, opFields, type RunOutcome, type WorkerLogger } from './log.ts';
import { OPERATION_MODULES } from './ops/index.ts';
import { DEFAULT_RETRY, LeaseLostError, OperationQueue, type Claim, type RetryPolicy } from './queue.ts';
import { statusFromHost } from './vm-steps.ts';

export interface WorkerOptions {
  /** KMS URLs guests are told to ask for their keys (`<public url>/kms`). */
  kmsUrls: string[];
  /** this installation's id (`installationId` of `services/host-vm-names.ts`), carried by the names of the VMs it creates */
  installationId: string;
  /** how often the worker looks for due operations when nobody wakes it, ms */
  pollMs?: number;
  /** how often a booting VM's progress is read from its host, ms */
  bootPollMs?: number;
  /** give up on a boot after this long, ms */
  bootTimeoutMs?: number;
  /** a graceful shutdown that takes longer than this becomes a forced stop, ms */
  shutdownTimeoutMs?: number;
  /**
   * at most this many operations at once (default 256: an operation following a boot waits on the host's
   * batched read and holds no connection, so many cost little; fewer would queue new deploys behind boots)
   */
  concurrency?: number;
  /** how long a claimed operation is held without a renewal (it is renewed every third of it while it runs), ms */
  leaseMs?: number;
  /** when an operation whose host could not be reached runs again (default: 1 s doubling to 60 s, full jitter, 10 attempts) */
  retry?: Partial<RetryPolicy>;
  /** structured lines (`op_id`, `cvm_id`, `kind`, `attempt`, `step`): each run's start and end, and warnings */
  log?: WorkerLogger;
  /** told how each run of an operation ended (the server's metrics); `queuedAt` is when the operation was queued */
  onRunEnded?: (kind: string, outcome: RunOutcome, queuedAt: Date) => void;
  /** called after a boot completed and the CVM is recorded as running */
  onBooted?: (cvmId: number) => void;
}

export class Worker {
  private readonly settings: OpSettings;
  private readonly queue: OperationQueue;
  private readonly log: WorkerLogger;
  /** the step each operation in hand last recorded (for its end line) */
  private readonly steps = new Map<number, string | null>();

  constructor(
    private readonly db: Db,
    private readonly nodes: Pick<NodeService, 'client'>,
    opts: WorkerOptions,
  ) {
    const log = (this.log = opts.log ?? SILENT);
    const bootPollMs = opts.bootPollMs ?? 200;
    this.settings = {
      kmsUrls: opts.kmsUrls,
      installationId: opts.installationId,
      bootPollMs,
      bootTimeoutMs: opts.bootTimeoutMs ?? 10 * 60_000,
      shutdownTimeoutMs: opts.shutdownTimeoutMs ?? 5 * 60_000,
      log: (fields, msg) => log.warn(fields, msg),
      onBooted: opts.onBooted ?? (() => {}),
      boots: new BootWatch(nodes, bootPollMs),
    };
    const onRunEnded = opts.onRunEnded;
    this.queue = new OperationQueue(
      db,
      {
        run: (op, claim) => this.run(op, claim),
        fail: (op, message, claim) => this.fail(op, message, claim),
        ended: (op, outcome, runMs) => {
          const step = this.steps.get(op.id) ?? op.step;
          this.steps.delete(op.id);
          log.info({ ...opFields(op), step, outcome, duration_ms: runMs }, `operation run ended: ${outcome}`);
          onRunEnded?.(op.kind, outcome, op.created_at);
        },
      },
      {
        pollMs: opts.pollMs ?? 1000,
        concurrency: opts.concurrency ?? 256,
        leaseMs: opts.leaseMs ?? 60_000,
        retry: { ...DEFAULT_RETRY, ...opts.retry },
        log: (fields, msg) => log.warn(fields, msg),
      },
    );
  }

  /** The KMS URLs new VMs are given (known once the server listens). */
  setKmsUrls(urls: string[]): void {
    this.settings.kmsUrls = urls;
  }

  /**
   * Start looking for work. Operations left running by a worker that is gone (a previous process, a replica
   * that died) are taken up again at once; those another live replica runs are left to it.
   */
  start(): Promise<void> {
    return this.queue.start();
  }

  /** Finish what is in hand (each operation checks between steps whether the worker is stopping), then stop. */
  stop(): Promise<void> {
    return this.queue.stop();
  }

  /** Look for due operations now (called after a request queues one). */
  wake(): void {
    this.queue.wake();
  }

  /** Wait until no operation is queued or running (tests and shutdown). */
  idle(timeoutMs?: number): Promise<void> {
    return this.queue.idle(timeoutMs);
  }

  /** This worker's owner id, recorded on the operations it holds (null while it holds no database lock). */
  get owner(): number | null {
    return this.queue.owner;
  }

  /** Run a claimed operation with its kind's module; answers how it stands after (the module records that). */
  private async run(op: OperationRow, claim: Claim): Promise<RunOutcome> {
    this.log.info({ ...opFields(op), step: op.step }, op.attempts > 1 ? 'operation run started (taken up again)' : 'operation run started');
    const kind = OPERATION_MODULES[op.kind];
    if (!kind) throw new Error(`unknown operation kind "${op.kind}"`);
    await kind.run(this.context(op, claim));
    const now = await operationProgress(this.db, op.id);
    if (now) this.steps.set(op.id, now.step);
    // still running: the module returned because the worker is stopping; the next start takes it up
    return now?.state === 'succeeded' || now?.state === 'failed' ? now.state : 'interrupted';
  }

  private context(op: OperationRow, claim?: Claim): OpContext {
    return {
      op,
      db: this.db,
      nodes: this.nodes,
      settings: this.settings,
      stopping: () => claim?.stopping() ?? this.queue.stopping,
      // a step is recorded only while the operation is leased to this worker; if another took it over,
      // this one stops here
      step: async (name, error) => {
        if (!claim) return;
        if (!(await setOwnedStep(this.db, op.id, claim.owner, name, error))) {
          claim.abandon();
          throw new LeaseLostError(`operation ${op.id} was taken over by another worker`);
        }
        this.steps.set(op.id, name);
      },
      owner: claim?.owner ?? null,
      holds: async (q) => {
        if (!claim) return;
        if (!(await lockOwnedOperation(q, op.id, claim.owner))) {
          claim.abandon();
          throw new LeaseLostError(`operation ${op.id} was taken over by another worker`);
        }
      },
    };
  }

  /**
   * An operation failed: ask the host first what the VM is doing (for the kinds whose CVM shows that), then
   * write the CVM's status and the operation's failure in one transaction, so that no reader ever sees the
   * operation ended while the CVM still shows `stopping`, `updating` or `deleting`.
   */
  private async fail(op: OperationRow, message: string, claim?: Claim): Promise<void> {
    const onFailure = OPERATION_MODULES[op.kind]?.onFailure;
    const ctx = this.context(op, claim);
    const status = onFailure === 'host' ? await statusFromHost(ctx) : null;
    await this.db.tx(async (q) => {
      await ctx.holds(q);
      if (onFailure === 'boot') await recordBootFailure(q, op.cvm_id, message);
      if (status) await setStatus(q, op.cvm_id, status);
      await failOperation(q, op.id, message);
    });
  }
}
