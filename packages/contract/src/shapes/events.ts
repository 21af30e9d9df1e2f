/**
 * Events (`events.ts` names the types): an app's events as Phala's `GET /apps/{app_id}/events` answers them
 * (`InstanceEvent`), and a CVM's operation status (`GET /cvms/{id}/operation-status`).
 */
import { z } from 'zod';
import { EVENT_TYPES } from '../events.ts';
import { nullableString, timestamp } from './common.ts';
import { operationSchema } from './updates.ts';

const nullableInt = z.number().int().nullable();

/**
 * One event in Phala's `InstanceEvent` form. `message_id` is the event's stable id (`evt_…`, a webhook
 * delivery's `webhook-id`); `instance_id` is the CVM's `vm_uuid` (fixed for its life, unlike dstack's instance
 * id, which a new VM changes); `operation_payload` is the event's data as JSON text.
 */
export const instanceEventSchema = z
  .strictObject({
    message_id: z.string(),
    correlation_id: nullableString,
    event_type: z.enum(EVENT_TYPES),
    operation_type: nullableString,
    /** a status change: the new status; an operation's events: the status it leads to */
    target_state: nullableString,
    /** the event's data (cvm.* events: cvm_id, vm_uuid, name, app_id, status, and the type's own fields), as JSON text */
    operation_payload: nullableString,
    /** the user who asked for the change, if one did */
    triggered_by: nullableInt,
    /** the CVM's vm_uuid */
    instance_id: z.string(),
    timestamp,
    /** opencvm gives events no priority */
    priority: nullableInt,
    /** the CVM's name when the event was recorded */
    instance_name: nullableString,
    /** the CVM's status once the change was made */
    state: nullableString,
    instance_type: nullableString,
    /** opencvm has no projects */
    project_id: nullableString,
    /** the workspace's id */
    team_id: nullableInt,
    /** the same as triggered_by */
    user_id: nullableInt,
  })
  .meta({ id: 'InstanceEvent' });

export const appEventsSchema = z.strictObject({ events: z.array(instanceEventSchema), total: z.number().int() }).meta({ id: 'AppEvents' });

/** An event as opencvm records it: its id, type, data and time. */
export const cvmEventSchema = z
  .strictObject({
    id: z.string(),
    type: z.enum(EVENT_TYPES),
    data: z.record(z.string(), z.unknown()),
    created_at: timestamp,
  })
  .meta({ id: 'CvmEvent' });

/**
 * `GET /api/v1/admin/events`: the operator's events the query selects (as `CvmEvent`: id, type, data, time),
 * `limit` at most: newest first, or, after an event (`after`), oldest first; `total` counts all it selects.
 */
export const adminEventsSchema = z.strictObject({ events: z.array(cvmEventSchema), total: z.number().int() }).meta({ id: 'AdminEvents' });

/**
 * `GET /cvms/{id}/operation-status`: whether an operation is in progress (`in_progress`, with it) or not
 * (`idle`), the last one that ended, and the CVM's latest events.
 */
export const operationStatusSchema = z
  .strictObject({
    cvm_id: z.number().int(),
    name: z.string(),
    vm_uuid: z.string(),
    /** the CVM's status */
    cvm_status: z.string(),
    status: z.enum(['idle', 'in_progress']),
    /** the operation pending or running, if any (with `attempts` and its last retriable error) */
    operation: operationSchema.nullable(),
    /** the latest operation that ended (succeeded or failed), if any */
    last_operation: operationSchema.nullable(),
    /** the CVM's latest events, newest first (10 at most) */
    recent_events: z.array(cvmEventSchema),
  })
  .meta({ id: 'CvmOperationStatus' });
