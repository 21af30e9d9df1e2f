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
