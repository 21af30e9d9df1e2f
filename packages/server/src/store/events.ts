/**
 * `events`: the outbox of what happened to a workspace's CVMs (and, for the operator, to hosts). Events are only
 * written by the triggers of `016_events.sql`, in the transaction of the change they describe; here are the
 * reads: an app's events (`GET /apps/{app_id}/events`), a CVM's latest (`GET /cvms/{id}/operation-status`), the
 * operator's events (`GET /api/v1/admin/events`), and a workspace's (or the operator's) events after a `seq`, in order.
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

/** What `GET /api/v1/admin/events` filters on (all optional). */
export interface OperatorEventFilter {
  types?: string[];
  /** a host's id (as text), or its name when the event was recorded */
  host?: string;
  from?: Date;
  /** included to the millisecond */
  to?: Date;
  /** only the events written after this seq */
  afterSeq?: string;
}

const operatorWhere = `e.workspace_id IS NULL
   AND ($1::text[] IS NULL OR e.type = ANY($1))
   AND ($2::text IS NULL OR e.data->>'node_id' = $2 OR e.data->>'node_name' = $2)
   AND ($3::timestamptz IS NULL OR e.created_at >= $3)
   AND ($4::timestamptz IS NULL OR e.created_at < $4::timestamptz + interval '1 millisecond')
   AND ($5::bigint IS NULL OR e.seq > $5::bigint)`;

/**
 * The operator's events (no workspace) the filter selects, `limit` at most, and how many it selects: newest
 * first, or, with `afterSeq`, oldest first (a poller's next page).
 */
export async function listOperatorEvents(q: Queryable, f: OperatorEventFilter, limit: number): Promise<{ rows: EventRow[]; total: number }> {
  const args = [f.types ?? null, f.host ?? null, f.from ?? null, f.to ?? null, f.afterSeq ?? null];
  const order = f.afterSeq === undefined ? 'DESC' : 'ASC';
  const rows = await q.query<EventRow>(`SELECT ${COLUMNS} FROM events e WHERE ${operatorWhere} ORDER BY e.seq ${order} LIMIT $6`, [...args, limit]);
  const [count] = await q.query<{ n: number }>(`SELECT count(*)::int AS n FROM events e WHERE ${operatorWhere}`, args);
  return { rows, total: count.n };
}

/** The seq of the operator event (no workspace) with that id, or null if there is none. */
export async function operatorEventSeq(q: Queryable, id: string): Promise<string | null> {
  const [row] = await q.query<{ seq: string }>('SELECT seq::text AS seq FROM events WHERE id = $1 AND workspace_id IS NULL', [id]);
  return row?.seq ?? null;
}

/**
 * Delete up to `limit` events recorded before `before`, oldest first, with their webhook deliveries and attempts
 * (`ON DELETE CASCADE`); an event with a delivery still pending is kept. Rows another server is deleting now are
 * skipped. Answers how many were deleted.
 */
export async function pruneEvents(q: Queryable, before: Date, limit: number): Promise<number> {
  const rows = await q.query(
    `DELETE FROM events WHERE seq IN (
       SELECT e.seq FROM events e
        WHERE e.created_at < $1
          AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_seq = e.seq AND d.status = 'pending')
        ORDER BY e.created_at LIMIT $2 FOR UPDATE OF e SKIP LOCKED)
     RETURNING seq`,
    [before, limit],
  );
  return rows.length;
}
