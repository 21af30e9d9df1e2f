/**
 * One webhook attempt: the body, the signatures, and the POST (to the address checked, no redirect followed, the
 * answer read with a size and a time limit).
 *
 * Body (`webhookEventBodySchema`): Phala Cloud's webhook envelope `{"id", "event", "version": "1", "created_at",
 * "workspace": {"id", "name", "slug"}, "data"}` and the Standard Webhooks keys `{"type", "timestamp", "data"}` of
 * the same event; `data` (`webhookEventDataSchema`) is the event's fields with the keys Phala Cloud's webhooks
 * documentation gives: `cvm_id` the CVM's vm_uuid (the event's recorded `vm_uuid`; null for an event about no CVM),
 * `cvm_name` its name, `app_id`, and `event_id`. Two sets of headers sign it:
 * - Standard Webhooks: `webhook-id` (the event id: the same on every attempt and every resend, so a receiver
 *   deduplicates by it), `webhook-timestamp` (this attempt's time, unix seconds), `webhook-signature`
 *   (`v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`, the key the base64-decoded part of the `whsec_…`
 *   secret; during a rotation's grace period one signature per secret, space-separated);
 * - Phala Cloud's (what `parseWebhookEvent` of the official SDK, `@phala/cloud/webhook`, verifies):
 *   `X-Webhook-Id`, `X-Webhook-Event`, `X-Webhook-Timestamp` (the same seconds) and `X-Webhook-Signature`
 *   (`sha256=<hex HMAC-SHA256(key, "<timestamp>.<body>")>`, the key the whole secret string as UTF-8 bytes, the
 *   current secret only: the header carries one signature).
 */
import { createHmac } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { WebhookEventBody, WebhookEventData } from '@opencvm/contract';
import { pinnedLookup, type UrlCheck } from './webhook-url.ts';

/** The JSON body of an event's delivery (`webhookEventBodySchema`). */
export function deliveryBody(e: {
  event_id: string;
  event_type: string;
  event_created_at: Date;
  event_data: Record<string, unknown>;
  app_id: string | null;
  cvm_id: number | null;
  workspace_name: string;
  workspace_slug: string;
}): string {
  const at = e.event_created_at.toISOString();
  const body: WebhookEventBody = {
    id: e.event_id,
    event: e.event_type,
    version: '1',
    created_at: at,
    // Phala Cloud's webhooks documentation names the workspace by its slug in `id`
    workspace: { id: e.workspace_slug, name: e.workspace_name, slug: e.workspace_slug },
    type: e.event_type,
    timestamp: at,
    data: webhookEventData(e),
  };
  return JSON.stringify(body);
}

/**
 * A delivery's `data`: the event's fields, the CVM named by its vm_uuid and name (what every CVM event records,
 * `016_events.sql`) as Phala Cloud's webhooks name it, the event's app and id.
 */
export function webhookEventData(e: { event_id: string; event_data: Record<string, unknown>; app_id: string | null; cvm_id: number | null }): WebhookEventData {
  const d = e.event_data;
  const about = e.cvm_id !== null;
  return {
    ...d,
    event_id: e.event_id,
    app_id: e.app_id,
    cvm_id: about && typeof d.vm_uuid === 'string' ? d.vm_uuid : null,
    cvm_name: about && typeof d.name === 'string' ? d.name : null,
  };
}

/** `webhook-signature` (Standard Webhooks): one `v1,<base64>` per secret, space-separated. */
export function signatureHeader(id: string, timestamp: number, body: string, secrets: string[]): string {
  return secrets
    .map((s) => `v1,${createHmac('sha256', Buffer.from(s.slice('whsec_'.length), 'base64')).update(`${id}.${timestamp}.${body}`).digest('base64')}`)
    .join(' ');
}

/** `X-Webhook-Signature` (Phala Cloud's): `sha256=<hex>`, keyed with the secret string itself (UTF-8), one secret only. */
export function phalaSignatureHeader(timestamp: number, body: string, secret: string): string {
  return `sha256=${createHmac('sha256', Buffer.from(secret, 'utf8')).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** Both header sets of an attempt at `timestamp` (unix seconds); `secrets[0]` is the current secret. */
export function deliveryHeaders(eventId: string, eventType: string, timestamp: number, body: string, secrets: string[]): Record<string, string> {
  return {
    'webhook-id': eventId,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': signatureHeader(eventId, timestamp, body, secrets),
    'x-webhook-id': eventId,
    'x-webhook-event': eventType,
    'x-webhook-timestamp': String(timestamp),
    'x-webhook-signature': phalaSignatureHeader(timestamp, body, secrets[0]),
  };
}

export interface PostLimits {
  /** the whole attempt (connect, answer) ends after this, ms */
  timeoutMs: number;
  /** at most this much of the answer's body is read */
  maxBytes: number;
  /** this much of it is kept */
  excerptBytes: number;
}

export interface PostResult {
  /** the HTTP status, null if no answer came */
  status: number | null;
  excerpt: string | null;
  /** what went wrong reading the answer, or why there was none */
  problem: string | null;
}

/** POST `body` to the checked URL, connecting to the checked address. */
export function post(target: Extract<UrlCheck, { ok: true }>, headers: Record<string, string>, body: string, limits: PostLimits): Promise<PostResult> {
  const mod = target.url.protocol === 'https:' ? https : http;
  return new Promise((resolve) => {
    let status: number | null = null;
    let kept = Buffer.alloc(0);
    let read = 0;
    let settled = false;
    const finish = (problem: string | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve({ status, excerpt: status === null ? null : kept.toString('utf8'), problem });
    };
    const req = mod.request(target.url, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), 'user-agent': 'opencvm-webhooks/1' },
      lookup: pinnedLookup(target.address, target.family),
      agent: false,
    });
    const timer = setTimeout(
      () => finish(status === null ? `no answer within ${limits.timeoutMs} ms` : `the answer's body was not complete within ${limits.timeoutMs} ms: cut`),
      limits.timeoutMs,
    );
    req.on('error', (e: NodeJS.ErrnoException) => finish(`the connection failed: ${e.code ?? e.message}`));
    req.on('response', (res) => {
      status = res.statusCode ?? 0;
      res.on('data', (chunk: Buffer) => {
        read += chunk.length;
        if (kept.length < limits.excerptBytes) kept = Buffer.concat([kept, chunk.subarray(0, limits.excerptBytes - kept.length)]);
        if (read > limits.maxBytes) finish(`the answer's body is larger than ${limits.maxBytes} bytes: cut`);
      });
      res.on('end', () => finish(null));
      res.on('error', (e: NodeJS.ErrnoException) => finish(`the answer broke off: ${e.code ?? e.message}`));
    });
    req.end(body);
  });
}
