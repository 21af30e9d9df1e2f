/**
 * The events opencvm records (an outbox written in the transaction of each change) and delivers to webhooks.
 * Phala Cloud's API names no webhook event types, so these are opencvm's; a webhook's `events` filter takes
 * these names (or `*` for all).
 */
export const EVENT_TYPES = [
  /** a CVM was committed (a deploy or a replica; its first operation is queued in the same transaction) */
  'cvm.created',
  /** a CVM's status moved: `data.from`, `data.to` */
  'cvm.status_changed',
  /** an operation was queued for a CVM: `data.correlation_id` (the operation's id), `data.kind`, `data.operation_type` */
  'cvm.operation_started',
  /** an operation ended well */
  'cvm.operation_succeeded',
  /** an operation failed: `data.error` */
  'cvm.operation_failed',
  /** a CVM's configuration changed: `data.compose_hash`, and `data.revision_id` for a new compose hash, else `data.changed` (field names) */
  'cvm.configuration_updated',
  /** a CVM was deleted */
  'cvm.deleted',
  /** operator: a host stopped answering */
  'host.unreachable',
  /** operator: a host answers again */
  'host.recovered',
  /** a test delivery (`POST /workspace/webhooks/{webhook_id}/test`) */
  'webhook.test',
] as const;

export type EventType = (typeof EVENT_TYPES)[number];

/** The operator's events: about hosts, in no workspace. Read with `GET /api/v1/admin/events`; no workspace read or webhook has them. */
export const OPERATOR_EVENT_TYPES = ['host.unreachable', 'host.recovered'] as const satisfies readonly EventType[];

export type OperatorEventType = (typeof OPERATOR_EVENT_TYPES)[number];

/** Whether `t` is one of the operator's event types. */
export const isOperatorEventType = (t: string): t is OperatorEventType => (OPERATOR_EVENT_TYPES as readonly string[]).includes(t);

/** What a workspace caller is told when it names an operator event type (an event filter of a webhook or a read). */
export const operatorEventRefusal = (t: string) =>
  `${t} is an operator event (hosts, in no workspace): no workspace read or webhook ever has it; the server's operator reads it with GET /api/v1/admin/events`;
