/** What an operation kind's module is given to run one claimed operation. */
import type { Db, Queryable } from '../db/index.ts';
import type { NodeService } from '../services/nodes.ts';
import type { OperationRow } from '../store/operations.ts';
import type { BootWatch } from './boot-watch.ts';
import type { WorkerLog } from './log.ts';

/** The worker's settings the operation modules read (`kmsUrls` is set once the server listens). */
export interface OpSettings {
  /** KMS URLs guests are told to ask for their keys (`<public url>/kms`) */
  kmsUrls: string[];
  /** this installation's id, which the names of the VMs it creates carry (`services/host-vm-names.ts`) */
  installationId: string;
  /** how often a booting or stopping VM is read from its host, ms */
  bootPollMs: number;
  /** give up on a boot after this long, ms */
  bootTimeoutMs: number;
  /** a graceful shutdown that takes longer than this becomes a forced stop (unless the CVM sets its own), ms */
  shutdownTimeoutMs: number;
  /** a warning: fields first (`opFields(op)` names the operation), then the message */
  log: WorkerLog;
  /** called after a boot completed and the CVM is recorded as running */
  onBooted: (cvmId: number) => void;
  /** the boots being followed, read from each host in one batch per poll */
  boots: BootWatch;
}

/** One claimed operation, as its kind's module sees it. */
export interface OpContext {
  readonly op: OperationRow;
  readonly db: Db;
  readonly nodes: Pick<NodeService, 'client'>;
  readonly settings: OpSettings;
  /** the worker is stopping: return at the next step (the operation stays running and is taken up again on the next start) */
  stopping(): boolean;
  /** record the phase reached (and, with it, an error to keep) */
  step(name: string, error?: string): Promise<void>;
  /**
   * The first statement of a transaction that ends the operation (or records what it did): locks the operation's
   * row if it is still leased to this worker, else throws (the transaction rolls back and nothing is recorded:
   * another worker took the operation over and records its outcome).
   */
  holds(q: Queryable): Promise<void>;
  /** the owner id the operation is leased to (null when it runs outside the queue) */
  readonly owner: number | null;
}

/** One kind of operation: how it runs, and what its CVM shows if it fails. */
export interface OperationModule {
  /** Drive the host from wherever `ctx.op.step` says the operation was; record success (or a failure it decides on). */
  run(ctx: OpContext): Promise<void>;
  /**
   * What the CVM shows once the operation failed: `boot`, it is `exited` (or `error` if it never had a VM) with
   * the boot error; `host`, whatever the host says the VM is doing (or `error` if the host cannot be asked).
   */
  onFailure: 'boot' | 'host';
}
