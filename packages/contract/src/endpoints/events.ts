/** Events: an app's events (Phala's deprecated but listed `GET /apps/{app_id}/events`) and a CVM's operation status. */
import { defineEndpoint } from '../endpoint.ts';
import { appEventsQuerySchema } from '../requests/events.ts';
import { appEventsSchema, operationStatusSchema } from '../shapes/events.ts';
import { appIdParams, cvmIdParams } from './params.ts';

export const getAppEvents = defineEndpoint({
  id: 'getAppEvents',
  method: 'GET',
  path: '/api/v1/apps/{app_id}/events',
  summary: "The app's events, newest first: its CVMs created, status changes, operations started and ended, configuration updates, deletions",
  description:
    'Every change a CVM goes through is recorded as an event in the transaction of the change. `total` counts the events the filters select; ' +
    '`events` are the newest `limit` of them. `instance_id` is a CVM\'s vm_uuid; `start_date`/`end_date` (ISO 8601) bound the event time, both included.',
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
