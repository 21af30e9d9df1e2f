/**
 * One webhook attempt: the body, the Standard Webhooks signature, and the POST (to the address checked, no
 * redirect followed, the answer read with a size and a time limit).
 *
 * Body: `{"type": <event type>, "timestamp": <the event's time, ISO 8601>, "data": {...the event's fields,
 * "event_id", "app_id", "cvm_id"}}`. Headers: `webhook-id` (the event id: the same on every attempt and every
 * resend, so a receiver deduplicates by it), `webhook-timestamp` (this attempt's time, unix seconds),
 * `webhook-signature` (`v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`, the key the base64-decoded
 * part of the `whsec_…` secret; during a rotation's grace period one signature per secret, space-separated).
 */
import { createHmac } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { pinnedLookup, type UrlCheck } from './webhook-url.ts';

/** The JSON body of an event's delivery. */
export function deliveryBody(e: {
  event_id: string;
  event_type: string;
  event_created_at: Date;
  event_data: Record<string, unknown>;
  app_id: string | null;
  cvm_id: number | null;
}): string {
  return JSON.stringify({
    type: e.event_type,
    timestamp: e.event_created_at.toISOString(),
    data: { ...e.event_data, event_id: e.event_id, app_id: e.app_id, cvm_id: e.cvm_id },
  });
}

/** `webhook-signature`: one `v1,<base64>` per secret, space-separated. */
export function signatureHeader(id: string, timestamp: number, body: string, secrets: string[]): string {
  return secrets
    .map((s) => `v1,${createHmac('sha256', Buffer.from(s.slice('whsec_'.length), 'base64')).update(`${id}.${timestamp}.${body}`).digest('base64')}`)
    .join(' ');
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
