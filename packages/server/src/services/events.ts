/**
 * The event reads: an app's events in Phala's `InstanceEvent` form (`GET /apps/{app_id}/events`), a CVM's
 * operation status (`GET /cvms/{id}/operation-status`) and the operator's events (`GET /api/v1/admin/events`). Events are written by the database's triggers in the
 * transaction of each change (`016_events.sql`); nothing here writes.
 */
import { ErrorCodes, notFound } from '@opencvm/core';
import type { AdminEventsQuery } from '@opencvm/contract';
import type { Queryable } from '../db/index.ts';
import {
  listAppEvents,
  listCvmEvents,
  listOperatorEvents,
  operatorEventSeq,
  type AppEventFilter,
  type AppEventRow,
  type EventRow,
} from '../store/events.ts';
import { listOperations } from '../store/operations.ts';
import { operationShape } from './operations.ts';

/** How many of a CVM's latest events the operation status shows. */
export const RECENT_EVENTS = 10;

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

const text = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const int = (v: unknown): number | null => (typeof v === 'number' && Number.isInteger(v) ? v : null);

/** An event as Phala's `InstanceEvent`. */
export function instanceEventShape(e: AppEventRow) {
  const d = e.data;
  const isOperation = e.type.startsWith('cvm.operation_');
  return {
    message_id: e.id,
    correlation_id: text(d.correlation_id),
    event_type: e.type,
    operation_type: text(d.operation_type),
    target_state: e.type === 'cvm.status_changed' ? text(d.to) : isOperation ? text(d.target_status) : null,
    operation_payload: JSON.stringify(d),
    triggered_by: int(d.triggered_by),
    instance_id: text(d.vm_uuid) ?? '',
    timestamp: e.created_at.toISOString(),
    priority: null,
    instance_name: text(d.name),
    state: text(d.status),
    instance_type: e.instance_type,
    project_id: null,
    team_id: e.workspace_id,
    user_id: int(d.triggered_by),
  };
}

/** An event as opencvm records it. */
export function cvmEventShape(e: EventRow) {
  return { id: e.id, type: e.type, data: e.data, created_at: e.created_at.toISOString() };
}

export interface AppEventsQuery {
  limit: number;
  event_type?: string;
  instance_id?: string;
  operation_type?: string;
  start_date?: Date;
  end_date?: Date;
}

/** `GET /apps/{app_id}/events`: the app's events the query selects, newest first, and how many it selects. */
export async function appEvents(q: Queryable, workspaceId: number, appId: string, query: AppEventsQuery) {
  // an instance_id that is no vm_uuid names no CVM of the app: nothing is selected
  if (query.instance_id && !UUID.test(query.instance_id)) return { events: [], total: 0 };
  const filter: AppEventFilter = {
    type: query.event_type,
    vmUuid: query.instance_id,
    operationType: query.operation_type,
    from: query.start_date,
    to: query.end_date,
  };
  const { rows, total } = await listAppEvents(q, workspaceId, appId, filter, query.limit);
  return { events: rows.map(instanceEventShape), total };
}

/**
 * `GET /api/v1/admin/events`: the operator's events the query selects, newest first (or, after an event, oldest
 * first), and how many it selects.
 */
export async function operatorEvents(q: Queryable, query: AdminEventsQuery) {
  let afterSeq: string | undefined;
  if (query.after) {
    const seq = await operatorEventSeq(q, query.after);
    if (seq === null) {
      throw notFound(ErrorCodes.OPERATOR_EVENT_NOT_FOUND,
        `No operator event has the id ${query.after}: give as after the id of an event GET /api/v1/admin/events answered (or leave after out for the newest).`);
    }
    afterSeq = seq;
  }
  const { rows, total } = await listOperatorEvents(
    q,
    { types: query.event_type, host: query.host, from: query.start_date, to: query.end_date, afterSeq },
    query.limit,
  );
  return { events: rows.map(cvmEventShape), total };
}

/** `GET /cvms/{id}/operation-status`. */
export async function operationStatus(q: Queryable, cvm: { id: number; name: string; vm_uuid: string; status: string }) {
  // one operation per CVM is active at a time, and a new one is queued only when none is: the active one, if
  // any, is the newest, and the newest that ended is among the two newest
  const [ops, events] = await Promise.all([listOperations(q, cvm.id, 2), listCvmEvents(q, cvm.id, RECENT_EVENTS)]);
  const active = ops.find((o) => o.state === 'pending' || o.state === 'running') ?? null;
  const last = ops.find((o) => o.state === 'succeeded' || o.state === 'failed') ?? null;
  return {
    cvm_id: cvm.id,
    name: cvm.name,
    vm_uuid: cvm.vm_uuid,
    cvm_status: cvm.status,
    status: active ? ('in_progress' as const) : ('idle' as const),
    operation: active ? operationShape(active) : null,
    last_operation: last ? operationShape(last) : null,
    recent_events: events.map(cvmEventShape),
  };
}
