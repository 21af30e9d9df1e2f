/**
 * The events opencvm records (an outbox written in the transaction of each change) and delivers to webhooks; a
 * webhook's `events` filter takes these names (or `*` for all). The `cvm.*` types of Phala Cloud's webhooks
 * documentation (`PHALA_EVENT_TYPES`) mean what Phala Cloud's mean, so a filter written for Phala Cloud, e.g.
 * `["cvm.created", "cvm.stopped"]`, works as is; the others are opencvm's.
 *
 * Every CVM event's data has the CVM's `cvm_id` (the internal id), `vm_uuid`, `name`, `app_id` and `status`
 * (once the change is made); a webhook delivery's data names the CVM as Phala Cloud's do: `cvm_id` is its
 * vm_uuid, `cvm_name` its name (`webhookEventDataSchema`).
 */
export const EVENT_TYPES = [
  /** Phala Cloud's: the CVM's first deployment completed, it runs (its first `create` operation succeeded) */
  'cvm.created',
  /** Phala Cloud's: the CVM's deployment failed (boot error, timeout) before it ever ran: `data.error` */
  'cvm.create_failed',
  /** Phala Cloud's: a CVM deployed before started again (a `start` operation, or a `create` of a CVM whose VM was gone) */
  'cvm.started',
  /** Phala Cloud's: a restart completed */
  'cvm.restarted',
  /** Phala Cloud's: a stop or a shutdown completed */
  'cvm.stopped',
  /** Phala Cloud's: a configuration update completed (an update, a redeploy, a rollback; not one that changed nothing) */
  'cvm.updated',
  /** Phala Cloud's: a CVM was deleted: `data.from` (the status before) */
  'cvm.deleted',
  /**
   * Phala Cloud's: a change of an on-chain KMS CVM is kept until its app's contract allows it: `data.compose_hash`,
   * `data.awaiting` (`compose_hash`, `device`), `data.pending` (`update`, or `replica` of this CVM), `data.expires_at`
   */
  'cvm.update.pending_approval',
  /** a CVM's status moved: `data.from`, `data.to` */
  'cvm.status_changed',
  /** an operation was queued for a CVM (a deploy's commit is its create's): `data.correlation_id` (the operation's id), `data.kind`, `data.operation_type` */
  'cvm.operation_started',
  /** an operation ended well */
  'cvm.operation_succeeded',
  /** an operation failed: `data.error` */
  'cvm.operation_failed',
  /** a CVM's configuration changed: `data.compose_hash`, and `data.revision_id` for a new compose hash, else `data.changed` (field names) */
  'cvm.configuration_updated',
  /** operator: a host stopped answering */
  'host.unreachable',
  /** operator: a host answers again */
  'host.recovered',
  /** a test delivery (`POST /workspace/webhooks/{webhook_id}/test`) */
  'webhook.test',
] as const;

export type EventType = (typeof EVENT_TYPES)[number];

/** The event types Phala Cloud's webhooks documentation lists, with the meaning it gives them. */
export const PHALA_EVENT_TYPES = [
  'cvm.created', 'cvm.started', 'cvm.create_failed', 'cvm.restarted', 'cvm.updated', 'cvm.stopped', 'cvm.deleted', 'cvm.update.pending_approval',
] as const satisfies readonly EventType[];

/** The operator's events: about hosts, in no workspace. Read with `GET /api/v1/admin/events`; no workspace read or webhook has them. */
export const OPERATOR_EVENT_TYPES = ['host.unreachable', 'host.recovered'] as const satisfies readonly EventType[];

export type OperatorEventType = (typeof OPERATOR_EVENT_TYPES)[number];

/** Whether `t` is one of the operator's event types. */
export const isOperatorEventType = (t: string): t is OperatorEventType => (OPERATOR_EVENT_TYPES as readonly string[]).includes(t);

/** What a workspace caller is told when it names an operator event type (an event filter of a webhook or a read). */
export const operatorEventRefusal = (t: string) =>
  `${t} is an operator event (hosts, in no workspace): no workspace read or webhook ever has it; the server's operator reads it with GET /api/v1/admin/events`;
