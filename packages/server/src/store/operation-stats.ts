/**
 * `operations` as the metrics and the worker's log read them (`Pick`s of `OperationRow`): the queue at a glance
 * (active operations by kind and state, how many are due, how long the longest-waiting one has been due), and
 * how one operation stands after its run.
 */
import type { Queryable } from '../db/index.ts';
import type { OperationRow } from './operations.ts';

/** The active operations of one kind and state. */
export interface OperationQueueRow extends Pick<OperationRow, 'kind' | 'state'> {
  /** how many there are */
  n: number;
  /** how many of them are due and held by no worker (`run_after` passed) */
  due: number;
  /** seconds since the longest-waiting due one became due (null when none is due) */
  oldest_due_s: number | null;
}

/** One small aggregate over the active operations (the `operations_due` partial index holds them all). */
export function operationQueue(q: Queryable): Promise<OperationQueueRow[]> {
  return q.query<OperationQueueRow>(
    `SELECT kind, state, count(*)::int AS n,
            count(*) FILTER (WHERE run_after <= now())::int AS due,
            extract(epoch FROM now() - min(run_after) FILTER (WHERE run_after <= now()))::float8 AS oldest_due_s
       FROM operations
      WHERE state IN ('pending', 'running')
      GROUP BY kind, state`,
  );
}

/** An operation's state and step (after its run: did it succeed, fail, or is it still running?). */
export async function operationProgress(q: Queryable, id: number): Promise<Pick<OperationRow, 'state' | 'step'> | null> {
  const [row] = await q.query<Pick<OperationRow, 'state' | 'step'>>('SELECT state, step FROM operations WHERE id = $1', [id]);
  return row ?? null;
}
