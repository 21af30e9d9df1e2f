/**
 * Workspace webhooks (Phala Cloud's `WebhookResponse`, `WebhookDeliveryResponse`, `WebhookStatsResponse`) and
 * the answers Phala's API leaves untyped (reveal and rotate the secret, test, resend), as opencvm answers them.
 */
import { z } from 'zod';
import { nullableTimestamp, timestamp } from './common.ts';

export const webhookSchema = z
  .strictObject({
    /** `wh_` + 24 hex digits */
    id: z.string(),
    url: z.string(),
    /** the signing secret (`whsec_…`): in the answer of the creation only, null in every other (reveal it with POST …/reveal-secret) */
    secret: z.string().nullable().optional(),
    /** the event types delivered, or `*` for all */
    events: z.array(z.string()),
    name: z.string().nullable().optional(),
    enabled: z.boolean(),
    created_at: timestamp,
    updated_at: timestamp,
  })
  .meta({ id: 'WebhookResponse' });

export const webhookListSchema = z.array(webhookSchema);

/** One attempt of a delivery (opencvm's addition to `WebhookDeliveryResponse`). */
export const webhookAttemptSchema = z
  .strictObject({
    attempt: z.number().int(),
    /** the receiver's status; 0: no answer (connection refused, timeout, refused address) */
    response_status: z.number().int(),
    /** the first KiB of the answer's body */
    response_excerpt: z.string().nullable(),
    duration_ms: z.number().int(),
    /** why it did not count as delivered ('' for a 2xx) */
    error_message: z.string(),
    created_at: timestamp,
  })
  .meta({ id: 'WebhookAttempt' });

export const webhookDeliverySchema = z
  .strictObject({
    /** the delivery's id */
    snowflake_id: z.number().int(),
    /** the event's id: the `webhook-id` header of every attempt */
    event_id: z.string(),
    event_type: z.string(),
    /** pending (waiting for its next attempt, or under way), succeeded, failed (no 2xx within the retry window) */
    status: z.string(),
    attempts: z.number().int(),
    /** the URL of the last attempt (the webhook's URL while none was made) */
    request_url: z.string(),
    /** the last attempt's HTTP status; 0 if none answered */
    response_status: z.number().int(),
    /** why the last attempt failed ('' if none did) */
    error_message: z.string(),
    /** the last attempt's duration */
    duration_ms: z.number().int().optional(),
    created_at: timestamp,
    delivered_at: nullableTimestamp.optional(),
    /** for a resend: the event id of the delivery it repeats (the same event: the same id); '' otherwise */
    original_event_id: z.string().optional(),
    /** opencvm: the CVM the event is about (null for a test event) */
    cvm_id: z.number().int().nullable().optional(),
    /** opencvm: when the next attempt is due (null once it succeeded or failed) */
    next_attempt_at: nullableTimestamp.optional(),
    /** opencvm: the first KiB of the last answer's body */
    response_excerpt: z.string().nullable().optional(),
    /** opencvm: every attempt, oldest first */
    attempt_history: z.array(webhookAttemptSchema).optional(),
  })
  .meta({ id: 'WebhookDeliveryResponse' });

export const webhookDeliveryListSchema = z.array(webhookDeliverySchema);

export const webhookStatsSchema = z
  .strictObject({
    /** deliveries of the webhook */
    total: z.number().int(),
    success_count: z.number().int(),
    /** deliveries given up on (no 2xx within the retry window) */
    failed_count: z.number().int(),
    /** success_count / (success_count + failed_count), 0 when neither */
    success_rate: z.number(),
    /** over every attempt made */
    avg_duration_ms: z.number().int(),
    max_duration_ms: z.number().int(),
    /** the last successful delivery */
    last_delivery_at: nullableTimestamp.optional(),
    /** opencvm: deliveries still waiting for an attempt or retrying */
    pending_count: z.number().int().optional(),
  })
  .meta({ id: 'WebhookStatsResponse' });

/** `POST …/reveal-secret` and `…/rotate-secret` (Phala's answer is untyped). */
export const webhookSecretSchema = z
  .strictObject({
    webhook_id: z.string(),
    /** the current signing secret (`whsec_…`) */
    secret: z.string(),
    /** after a rotation: until when the previous secret also signs (null: no previous secret in use) */
    previous_secret_expires_at: nullableTimestamp,
  })
  .meta({ id: 'WebhookSecretResponse' });

/** `POST …/test` and `…/deliveries/{event_id}/resend` (Phala's answer is untyped): the delivery queued. */
export const webhookQueuedSchema = z
  .strictObject({
    /** the new delivery's id (`snowflake_id` in the deliveries) */
    snowflake_id: z.number().int(),
    /** the event sent (`webhook-id`): a new `webhook.test` event, or the resent one's */
    event_id: z.string(),
    event_type: z.string(),
    /** `pending`: it is sent by the delivery worker, as any other */
    status: z.string(),
  })
  .meta({ id: 'WebhookQueuedResponse' });

export type Webhook = z.output<typeof webhookSchema>;
export type WebhookDelivery = z.output<typeof webhookDeliverySchema>;
export type WebhookStats = z.output<typeof webhookStatsSchema>;

/**
 * The `data` of every webhook delivery: the keys Phala Cloud's webhooks documentation gives (`cvm_id`, `cvm_name`,
 * `app_id`, `status`, and `error` for a failure), the event id, and the event's own fields (`events.ts`).
 */
export const webhookEventDataSchema = z.looseObject({
  /** the event's id (`evt_…`) */
  event_id: z.string(),
  /** the CVM the event is about: its vm_uuid (a UUID string), as Phala Cloud's webhooks name it; null when the event is about none (`webhook.test`) */
  cvm_id: z.string().nullable(),
  /** the CVM's name when the event was recorded; null when the event is about none */
  cvm_name: z.string().nullable(),
  /** the CVM's app id (40 hex digits, no `0x`); null when the event is about none */
  app_id: z.string().nullable(),
  /** the CVM's status once the change was made (absent when the event is about no CVM) */
  status: z.string().optional(),
  /** a failure's error (`cvm.create_failed`, `cvm.operation_failed`) */
  error: z.string().nullable().optional(),
});

/**
 * The JSON body of every webhook delivery: Phala Cloud's webhook envelope (the official SDK's `WebhookEvent`, what
 * `parseWebhookEvent` from `@phala/cloud/webhook` answers) and the Standard Webhooks keys (`type`, `timestamp`,
 * `data`), one event in both.
 */
export const webhookEventBodySchema = z.strictObject({
  /** the event's id (`evt_…`): the `webhook-id` header, the same on every attempt and resend */
  id: z.string(),
  /** the event type (`packages/contract/src/events.ts`) */
  event: z.string(),
  /** the envelope's version, as Phala Cloud's webhooks document it */
  version: z.literal('1'),
  /** when the event happened */
  created_at: timestamp,
  /** the workspace the event belongs to: `id` is its slug (as Phala Cloud's webhooks documentation shows), `name`; opencvm adds `slug` */
  workspace: z.strictObject({ id: z.string(), name: z.string(), slug: z.string() }),
  /** Standard Webhooks: the event type (= `event`) */
  type: z.string(),
  /** Standard Webhooks: when the event happened (= `created_at`) */
  timestamp,
  /** the event's fields with Phala Cloud's keys (`webhookEventDataSchema`) */
  data: webhookEventDataSchema,
});

/** The `data` of a `webhook.test` event (`POST /workspace/webhooks/{webhook_id}/test`). */
export const webhookTestDataSchema = z.strictObject({
  /** the webhook tested */
  webhook_id: z.string(),
  message: z.string(),
});

export type WebhookEventBody = z.output<typeof webhookEventBodySchema>;
export type WebhookTestData = z.output<typeof webhookTestDataSchema>;
export type WebhookEventData = z.output<typeof webhookEventDataSchema>;
