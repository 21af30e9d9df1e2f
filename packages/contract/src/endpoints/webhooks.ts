/**
 * Workspace webhooks, at Phala Cloud's paths (`/workspace/webhooks…`, its 11 operations): the workspace's events
 * (the contract's EVENT_TYPES) posted to an http(s) URL, signed as the Standard Webhooks specification says
 * (`webhook-id`, `webhook-timestamp`, `webhook-signature`) and as Phala Cloud's SDK verifies (`X-Webhook-Timestamp`,
 * `X-Webhook-Signature`), at least once, in order per CVM, retried for up to a day. A URL whose host resolves to a loopback, private, link-local or other non-public address is refused
 * (unless the operator allows it). Another workspace's webhook id is a 404.
 *
 * Phala's API marks reveal-secret and rotate-secret "requires 2FA"; opencvm has no second factor, so both need
 * the ADMIN role (as creating, changing and deleting a webhook do).
 */
import { defineEndpoint } from '../endpoint.ts';
import { ErrorCodes as E } from '../errors.ts';
import {
  createWebhookRequestSchema,
  updateWebhookRequestSchema,
  webhookDeliveriesQuerySchema,
  webhookEventParams,
  webhookParams,
} from '../requests/webhooks.ts';
import {
  webhookDeliveryListSchema,
  webhookListSchema,
  webhookQueuedSchema,
  webhookSchema,
  webhookSecretSchema,
  webhookStatsSchema,
} from '../shapes/webhooks.ts';

const TAG = 'Webhooks';
const NOT_FOUND = { 404: [E.WEBHOOK_NOT_FOUND] } as const;
const URL_REFUSED = { 400: [E.WEBHOOK_URL_REFUSED] } as const;

export const listWebhooks = defineEndpoint({
  id: 'listWebhooks',
  method: 'GET',
  path: '/api/v1/workspace/webhooks',
  summary: 'List workspace webhooks',
  description: "The workspace's webhooks, oldest first, without their secrets (`secret` is null).",
  tag: TAG,
  auth: 'apiKey',
  role: 'viewer',
  success: { status: 200, description: 'The webhooks', json: webhookListSchema },
});

export const createWebhook = defineEndpoint({
  id: 'createWebhook',
  method: 'POST',
  path: '/api/v1/workspace/webhooks',
  summary: 'Create workspace webhook',
  description:
    'A webhook of the workspace. `events`: event types to deliver (or `*`). `secret`: a Standard Webhooks secret (`whsec_` + base64 of 24–64 bytes); left out, one is generated. The answer carries the secret; later reads do not (reveal it with …/reveal-secret). The URL must be http(s) and its host must resolve to public addresses only (400 `ERR-14-002` otherwise, unless the server sets `OPENCVM_WEBHOOK_ALLOW_PRIVATE=1`).',
  tag: TAG,
  auth: 'apiKey',
  role: 'admin',
  body: { json: createWebhookRequestSchema },
  success: { status: 201, description: 'The webhook, with its secret', json: webhookSchema },
  errors: URL_REFUSED,
});

export const getWebhook = defineEndpoint({
  id: 'getWebhook',
  method: 'GET',
  path: '/api/v1/workspace/webhooks/{webhook_id}',
  summary: 'Get webhook details',
  tag: TAG,
  auth: 'apiKey',
  role: 'viewer',
  params: webhookParams,
  success: { status: 200, description: 'The webhook (`secret` null)', json: webhookSchema },
  errors: NOT_FOUND,
});

export const updateWebhook = defineEndpoint({
  id: 'updateWebhook',
  method: 'PUT',
  path: '/api/v1/workspace/webhooks/{webhook_id}',
  summary: 'Update webhook',
  description:
    'Changes what is given and not null. A new URL is checked as at creation. A disabled webhook gets no new deliveries, and its pending ones wait until it is enabled again.',
  tag: TAG,
  auth: 'apiKey',
  role: 'admin',
  params: webhookParams,
  body: { json: updateWebhookRequestSchema },
  success: { status: 200, description: 'The webhook (`secret` null)', json: webhookSchema },
  errors: { ...NOT_FOUND, ...URL_REFUSED },
});

export const deleteWebhook = defineEndpoint({
  id: 'deleteWebhook',
  method: 'DELETE',
  path: '/api/v1/workspace/webhooks/{webhook_id}',
  summary: 'Delete webhook',
  description: 'The webhook and its delivery records; pending deliveries are not sent.',
  tag: TAG,
  auth: 'apiKey',
  role: 'admin',
  params: webhookParams,
  success: { status: 204, description: 'Deleted (no body)' },
  errors: NOT_FOUND,
});

export const revealWebhookSecret = defineEndpoint({
  id: 'revealWebhookSecret',
  method: 'POST',
  path: '/api/v1/workspace/webhooks/{webhook_id}/reveal-secret',
  summary: 'Reveal webhook secret (requires the ADMIN role)',
  description: "The webhook's current signing secret. Phala Cloud asks for a second factor here; opencvm has none and asks for the ADMIN role instead.",
  tag: TAG,
  auth: 'apiKey',
  role: 'admin',
  params: webhookParams,
  success: { status: 200, description: 'The secret', json: webhookSecretSchema },
  errors: { ...NOT_FOUND, 409: [E.WEBHOOK_SECRET_UNREADABLE] },
});

export const rotateWebhookSecret = defineEndpoint({
  id: 'rotateWebhookSecret',
  method: 'POST',
  path: '/api/v1/workspace/webhooks/{webhook_id}/rotate-secret',
  summary: 'Rotate webhook secret (requires the ADMIN role)',
  description:
    'A new secret is generated and answered. For a grace period (24 h unless the server sets `OPENCVM_WEBHOOK_SECRET_GRACE_MS`) deliveries carry a signature by each secret (space-separated in `webhook-signature`), so a receiver switches over without losing one; the Phala Cloud header `X-Webhook-Signature` carries one signature only, by the new secret. Phala Cloud asks for a second factor here; opencvm asks for the ADMIN role.',
  tag: TAG,
  auth: 'apiKey',
  role: 'admin',
  params: webhookParams,
  success: { status: 200, description: 'The new secret, and until when the old one also signs', json: webhookSecretSchema },
  errors: NOT_FOUND,
});

export const testWebhook = defineEndpoint({
  id: 'testWebhook',
  method: 'POST',
  path: '/api/v1/workspace/webhooks/{webhook_id}/test',
  summary: 'Send test webhook event',
  description: 'Records a `webhook.test` event and queues its delivery to this webhook only (whatever its `events` filter says), sent and retried as any other. A disabled webhook is refused (409): enable it first.',
  tag: TAG,
  auth: 'apiKey',
  params: webhookParams,
  success: { status: 200, description: 'The delivery queued', json: webhookQueuedSchema },
  errors: { ...NOT_FOUND, 409: [E.WEBHOOK_DISABLED] },
});

export const listWebhookDeliveries = defineEndpoint({
  id: 'listWebhookDeliveries',
  method: 'GET',
  path: '/api/v1/workspace/webhooks/{webhook_id}/deliveries',
  summary: 'List webhook deliveries',
  description: 'Newest first, `limit` (default 50, at most 500) from `offset` (default 0); each with its attempts.',
  tag: TAG,
  auth: 'apiKey',
  role: 'viewer',
  params: webhookParams,
  query: webhookDeliveriesQuerySchema,
  success: { status: 200, description: 'The deliveries', json: webhookDeliveryListSchema },
  errors: NOT_FOUND,
});

export const resendWebhookDelivery = defineEndpoint({
  id: 'resendWebhookDelivery',
  method: 'POST',
  path: '/api/v1/workspace/webhooks/{webhook_id}/deliveries/{event_id}/resend',
  summary: 'Resend a webhook delivery',
  description:
    'Queues a new delivery of that event to this webhook. It is the same message, so it carries the same `webhook-id` (the event id): a receiver that deduplicates by it sees it once. A disabled webhook is refused (409): enable it first.',
  tag: TAG,
  auth: 'apiKey',
  params: webhookEventParams,
  success: { status: 200, description: 'The delivery queued', json: webhookQueuedSchema },
  errors: { 404: [E.WEBHOOK_NOT_FOUND, E.WEBHOOK_EVENT_NOT_FOUND], 409: [E.WEBHOOK_DISABLED] },
});

export const getWebhookStats = defineEndpoint({
  id: 'getWebhookStats',
  method: 'GET',
  path: '/api/v1/workspace/webhooks/{webhook_id}/stats',
  summary: 'Get webhook delivery stats',
  description: 'Over all of its deliveries: totals, successes, failures (given up), success rate, attempt durations, the last successful delivery.',
  tag: TAG,
  auth: 'apiKey',
  role: 'viewer',
  params: webhookParams,
  success: { status: 200, description: 'The stats', json: webhookStatsSchema },
  errors: NOT_FOUND,
});
