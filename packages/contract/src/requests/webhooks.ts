/**
 * Requests of the workspace webhooks (`/workspace/webhooks`), as Phala Cloud's `WebhookCreateRequest` and
 * `WebhookUpdateRequest`, and the deliveries' page.
 */
import { z } from 'zod';
import { EVENT_TYPES, isOperatorEventType, operatorEventRefusal } from '../events.ts';
import { intQuery } from './reads.ts';

/** A webhook's `events` filter may name every event type with this. */
export const ALL_EVENTS = '*';

/**
 * A signing secret as the Standard Webhooks specification writes it: `whsec_` + the base64 of 24 to 64 random
 * bytes (the HMAC key is the decoded bytes).
 */
export const WEBHOOK_SECRET_FORM = '`whsec_` followed by the base64 of 24 to 64 random bytes (e.g. `whsec_$(openssl rand -base64 32)`)';

/** Whether `s` is a Standard Webhooks secret opencvm accepts. */
export function isWebhookSecret(s: string): boolean {
  const m = /^whsec_([A-Za-z0-9+/]+={0,2})$/.exec(s);
  if (!m || m[1].length % 4 !== 0) return false;
  const bytes = (m[1].length / 4) * 3 - (m[1].endsWith('==') ? 2 : m[1].endsWith('=') ? 1 : 0);
  return bytes >= 24 && bytes <= 64;
}

const url = z
  .string({ error: 'url must be text' })
  .trim()
  .min(1, 'url must not be empty: give the http:// or https:// URL the events are posted to')
  .max(2048, 'url is at most 2048 characters');

/** the event types a workspace's webhook may name: the operator's (hosts) are in no workspace */
const WEBHOOK_EVENT_TYPES = EVENT_TYPES.filter((t) => !isOperatorEventType(t));
const eventType = z
  .enum([...EVENT_TYPES, ALL_EVENTS], {
    error: `each of events must be one of ${WEBHOOK_EVENT_TYPES.join(', ')}, or ${ALL_EVENTS} for all`,
  })
  .superRefine((t, ctx) => {
    if (isOperatorEventType(t)) ctx.addIssue({ code: 'custom', message: operatorEventRefusal(t) });
  });
const events = z
  .array(eventType, { error: 'events must be a list of event types' })
  .min(1, `events must name at least one event type (or "${ALL_EVENTS}" for all)`)
  .max(EVENT_TYPES.length + 1, 'events names each event type at most once');

const name = z.string({ error: 'name must be text' }).trim().max(100, 'name is at most 100 characters');

/** `POST /workspace/webhooks`. */
export const createWebhookRequestSchema = z.strictObject({
  url,
  /** the event types to deliver (the contract's EVENT_TYPES), or `*` for all */
  events,
  name: name.nullable().optional(),
  /** the signing secret (Standard Webhooks `whsec_…`); left out or null: one is generated */
  secret: z
    .string({ error: 'secret must be text' })
    .refine(isWebhookSecret, `secret must be ${WEBHOOK_SECRET_FORM}; or leave it out and one is generated`)
    .nullable()
    .optional(),
});

/** `PUT /workspace/webhooks/{webhook_id}`: only what is given (and not null) changes. */
export const updateWebhookRequestSchema = z.strictObject({
  url: url.nullable().optional(),
  events: events.nullable().optional(),
  name: name.nullable().optional(),
  enabled: z.boolean({ error: 'enabled must be true or false' }).nullable().optional(),
});

export const webhookParams = z.object({
  webhook_id: z.string().min(1, 'webhook_id must not be empty').max(100, 'webhook_id is at most 100 characters').describe("the webhook's id (`id` in GET /workspace/webhooks)"),
});

export const webhookEventParams = webhookParams.extend({
  event_id: z.string().min(1, 'event_id must not be empty').max(100, 'event_id is at most 100 characters').describe('the event id of one of its deliveries (`event_id`, the `webhook-id` header sent)'),
});

/** `GET /workspace/webhooks/{webhook_id}/deliveries`. */
export const webhookDeliveriesQuerySchema = z.object({
  limit: intQuery('limit', 1, 500).default(50),
  offset: intQuery('offset', 0, 1_000_000).default(0),
});

export type CreateWebhookRequest = z.output<typeof createWebhookRequestSchema>;
export type UpdateWebhookRequest = z.output<typeof updateWebhookRequestSchema>;
