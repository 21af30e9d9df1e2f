/**
 * `events`: the outbox of what happened to a workspace's CVMs (and, for the operator, to hosts). Events are only
 * written by the triggers of `016_events.sql`, in the transaction of the change they describe; here are the
 * reads: an app's events (`GET /apps/{app_id}/events`), a CVM's latest (`GET /cvms/{id}/operation-status`), and
 * a workspace's (or the operator's) events after a `seq`, in order.
 */
import type { EventType } from '@opencvm/contract';
import type { Queryable } from '../db/index.ts';

/** An `events` row. */
export interface EventRow {
  /** the order events were written in; for one CVM, the order they committed in */
  seq: string;
  /** `evt_` + 32 hex digits */
  id: string;
  /** null: an operator event (hosts) */
  workspace_id: number | null;
  cvm_id: number | null;
  app_id: string | null;
  type: EventType;
  data: Record<string, unknown>;
  created_at: Date;
}

const COLUMNS = 'e.seq::text AS seq, e.id, e.workspace_id, e.cvm_id, e.app_id, e.type, e.data, e.created_at';

/** What `GET /apps/{app_id}/events` filters on (all optional). */
export interface AppEventFilter {
  type?: string;
  /** a CVM's vm_uuid */
  vmUuid?: string;
  operationType?: string;
  from?: Date;
  /** included to the millisecond (the precision of the times the API shows) */
  to?: Date;
}

/** An app's event with what its Phala shape names besides the event: the CVM's instance type. */
export type AppEventRow = EventRow & { instance_type: string | null };

const appWhere = `e.app_id = $1 AND e.workspace_id = $2
   AND ($3::text IS NULL OR e.type = $3)
   AND ($4::uuid IS NULL OR e.cvm_id = (SELECT id FROM cvms WHERE vm_uuid = $4::uuid AND app_id = $1))
   AND ($5::text IS NULL OR e.data->>'operation_type' = $5)
   AND ($6::timestamptz IS NULL OR e.created_at >= $6)
   AND ($7::timestamptz IS NULL OR e.created_at < $7::timestamptz + interval '1 millisecond')`;

const appArgs = (workspaceId: number, appId: string, f: AppEventFilter) => [
  appId, workspaceId, f.type ?? null, f.vmUuid ?? null, f.operationType ?? null, f.from ?? null, f.to ?? null,
];

/** The newest `limit` events of an app of the workspace that the filter selects, newest first, and how many it selects. */
export async function listAppEvents(
  q: Queryable,
  workspaceId: number,
  appId: string,
  f: AppEventFilter,
  limit: number,
): Promise<{ rows: AppEventRow[]; total: number }> {
  const args = appArgs(workspaceId, appId, f);
  const rows = await q.query<AppEventRow>(
    `SELECT ${COLUMNS}, c.instance_type FROM events e LEFT JOIN cvms c ON c.id = e.cvm_id
      WHERE ${appWhere} ORDER BY e.seq DESC LIMIT $8`,
    [...args, limit],
  );
  const [count] = await q.query<{ n: number }>(`SELECT count(*)::int AS n FROM events e WHERE ${appWhere}`, args);
  return { rows, total: count.n };
}

/** A CVM's latest `limit` events, newest first. */
export function listCvmEvents(q: Queryable, cvmId: number, limit: number): Promise<EventRow[]> {
  return q.query<EventRow>(`SELECT ${COLUMNS} FROM events e WHERE e.cvm_id = $1 ORDER BY e.seq DESC LIMIT $2`, [cvmId, limit]);
}

/**
 * A workspace's events written after `afterSeq` (`'0'`: from the first), oldest first, `limit` at most;
 * `workspaceId` null: the operator's events (hosts). An event with a smaller seq may still commit after one
 * with a larger seq when they concern different CVMs: a reader that must not miss any reads again from a seq
 * it has seen every event before.
 */
export function listWorkspaceEventsAfter(q: Queryable, workspaceId: number | null, afterSeq: string, limit: number): Promise<EventRow[]> {
  if (workspaceId === null) {
    return q.query<EventRow>(`SELECT ${COLUMNS} FROM events e WHERE e.workspace_id IS NULL AND e.seq > $1::bigint ORDER BY e.seq LIMIT $2`, [afterSeq, limit]);
  }
  return q.query<EventRow>(`SELECT ${COLUMNS} FROM events e WHERE e.workspace_id = $1 AND e.seq > $2::bigint ORDER BY e.seq LIMIT $3`, [
    workspaceId,
    afterSeq,
    limit,
  ]);
}
