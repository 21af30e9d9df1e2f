/**
 * The worker's log lines are structured: each names the operation it is about (`op_id`, `cvm_id`, `kind`,
 * `attempt`, `step`) as fields, so an operator can follow one operation or one CVM through the log. No line
 * carries an operation's parameters (sealed env, compose) or anything secret: only ids, names and messages.
 */
import type { OperationRow } from '../store/operations.ts';

/** How a claimed operation's run ended: finished (`succeeded`, `failed`), or to run again (`retry`, `interrupted`). */
export type RunOutcome = 'succeeded' | 'failed' | 'retry' | 'interrupted';

/** The fields of a worker log line. */
export interface OpLogFields {
  op_id?: number;
  cvm_id?: number;
  kind?: string;
  /** which claim of the operation this is (1: its first run; retries and resumptions count) */
  attempt?: number;
  /** the phase the operation reached */
  step?: string | null;
  outcome?: RunOutcome;
  duration_ms?: number;
  /** a retry: how long until the operation is due again */
  retry_in_ms?: number;
  /** the host's id of the VM the line is about */
  host_vm_id?: string;
  err?: unknown;
}

/** One log line: fields first, then the message (the order of the server's logger, pino). */
export type WorkerLog = (fields: OpLogFields, msg: string) => void;

/** What the worker logs with: the server's logger, or nothing. */
export interface WorkerLogger {
  info: WorkerLog;
  warn: WorkerLog;
}

export const SILENT: WorkerLogger = { info: () => {}, warn: () => {} };

/** The fields that name an operation. */
export const opFields = (op: Pick<OperationRow, 'id' | 'cvm_id' | 'kind' | 'attempts'>): OpLogFields => ({
  op_id: op.id,
  cvm_id: op.cvm_id,
  kind: op.kind,
  attempt: op.attempts,
});
