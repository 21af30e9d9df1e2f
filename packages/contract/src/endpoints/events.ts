/**
 * Events: an app's events (Phala's deprecated but listed `GET /apps/{app_id}/events`), a CVM's operation status,
 * and the operator's events (hosts; opencvm's own, with the admin key).
 */
import { defineEndpoint } from '../endpoint.ts';
import { ErrorCodes as E } from '../errors.ts';
import { OPERATOR_EVENT_TYPES } from '../events.ts';
import { adminEventsQuerySchema, appEventsQuerySchema } from '../requests/events.ts';
import { adminEventsSchema, appEventsSchema, operationStatusSchema } from '../shapes/events.ts';
import { appIdParams, cvmIdParams } from './params.ts';

export const getAppEvents = defineEndpoint({
  id: 'getAppEvents',
  method: 'GET',
  path: '/api/v1/apps/{app_id}/events',
  summary: "The app's events, newest first: its CVMs created, status changes, operations started and ended, configuration updates, deletions",
  description:
    'Every change a CVM goes through is recorded as an event in the transaction of the change. `total` counts the events the filters select; ' +
    '`events` are the newest `limit` of them. `instance_id` is a CVM\'s vm_uuid; `start_date`/`end_date` (ISO 8601) bound the event time, both included: a date alone ' +
    '(`2026-01-31`) as an end includes that whole day, and a time without an offset is UTC. The operator\'s events (`host.*`) are in no ' +
    'workspace: `event_type` refuses them (422); the operator reads them with `GET /api/v1/admin/events`.',
  tag: 'Apps',
  auth: 'apiKey',
  resolve: 'app',
  params: appIdParams,
  query: appEventsQuerySchema,
  success: { status: 200, description: 'The events', json: appEventsSchema },
});

export const getCvmOperationStatus = defineEndpoint({
  id: 'getCvmOperationStatus',
  method: 'GET',
  path: '/api/v1/cvms/{id}/operation-status',
  summary: "The CVM's operation in progress (`in_progress`), or `idle` if none; the last one that ended; its latest events",
  tag: 'CVMs',
  auth: 'apiKey',
  resolve: 'cvm',
  params: cvmIdParams,
  success: { status: 200, description: 'The operation status', json: operationStatusSchema },
});

export const adminListEvents = defineEndpoint({
  id: 'adminListEvents',
  method: 'GET',
  path: '/api/v1/admin/events',
  summary: "The operator's events (hosts that stopped answering or answer again), newest first",
  description:
    `The events of no workspace: ${OPERATOR_EVENT_TYPES.map((t) => `\`${t}\``).join(', ')}, each with \`data.node_id\`, \`data.node_name\` and \`data.reason\`. ` +
    'Filters: `event_type` (repeat it, or a comma list), `host` (a host id, or the host\'s name when the event was recorded), ' +
    '`start_date`/`end_date` (ISO 8601, both included; a date alone as an end includes that whole day; a time without an offset is UTC). ' +
    '`after=<event id>` polls: the events written after that one, oldest first (send the last id you got next time); an id that is no ' +
    'operator event is a 404 `ERR-15-001`. `total` counts the events the query selects; `events` holds `limit` (default 50, at most 500) of them. ' +
    'Events of different hosts written at the same moment may commit in the other order: a poller that must miss none asks again from an id a few seconds older.',
  tag: 'Admin',
  auth: 'adminKey',
  extension: true,
  query: adminEventsQuerySchema,
  success: { status: 200, description: "The operator's events", json: adminEventsSchema },
  errors: { 404: [E.OPERATOR_EVENT_NOT_FOUND] },
});
