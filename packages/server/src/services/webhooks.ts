/**
 * Workspace webhooks (`/workspace/webhooks…`): create, list, get, update, delete, reveal and rotate the secret,
 * test, deliveries, resend, stats. Every read and change is of the caller's workspace: another workspace's
 * webhook id is a 404. Secrets are sealed (AES-256-GCM under the server's seal key, bound to the webhook's id)
 * and answered by the creation, reveal and rotation only. Sending is the deliverer's (`worker/webhooks.ts`).
 */
import { randomBytes } from 'node:crypto';
import {
  ALL_EVENTS,
  EVENT_TYPES,
  type CreateWebhookRequest,
  type UpdateWebhookRequest,
  type Webhook,
  type WebhookDelivery,
  type WebhookStats,
  type WebhookTestData,
  type z,
  type webhookQueuedSchema,
  type webhookSecretSchema,
} from '@opencvm/contract';
import { ApiError, ErrorCodes } from '@opencvm/core';
import type { Db } from '../db/index.ts';
import type { Principal } from './auth.ts';
import { seal, unseal } from './seal.ts';
import { checkWebhookUrl } from './webhook-url.ts';
import { secretPurpose } from '../worker/webhooks.ts';
import {
  deleteWebhook,
  deliveryOfEvent,
  deliveryStats,
  insertDelivery,
  insertEvent,
  insertWebhook,
  listDeliveries,
  listWebhooks,
  rotateWebhookSecret,
  updateWebhook,
  webhookOf,
  type WebhookRow,
} from '../store/webhooks.ts';

export interface WebhookOptions {
  sealKey: Buffer;
  allowPrivate: boolean;
  /** how long a rotated-out secret keeps signing, ms */
  secretGraceMs: number;
  /** a delivery was queued: look for due ones now */
  wake: () => void;
}

type SecretAnswer = z.output<typeof webhookSecretSchema>;
type QueuedAnswer = z.output<typeof webhookQueuedSchema>;

/** A new Standard Webhooks secret: `whsec_` + base64 of 32 random bytes. */
export const newWebhookSecret = () => `whsec_${randomBytes(32).toString('base64')}`;

const shapeOf = (w: WebhookRow, secret: string | null = null): Webhook => ({
  id: w.id,
  url: w.url,
  secret,
  events: w.events,
  name: w.name,
  enabled: w.enabled,
  created_at: w.created_at.toISOString(),
  updated_at: w.updated_at.toISOString(),
});

const disabled = (w: WebhookRow, what: string) =>
  new ApiError(409, ErrorCodes.WEBHOOK_DISABLED,
    `Webhook ${w.id} is disabled, so ${what} would wait: enable it with PUT /api/v1/workspace/webhooks/${w.id} and {"enabled": true} first.`);

const notFound = (id: string) =>
  new ApiError(404, ErrorCodes.WEBHOOK_NOT_FOUND, `No webhook "${id}" in this workspace: list the workspace's webhooks with GET /api/v1/workspace/webhooks.`);

/** `*` alone stands for all; otherwise each type once, in EVENT_TYPES' order. */
function normalEvents(events: readonly string[]): string[] {
  if (events.includes(ALL_EVENTS)) return [ALL_EVENTS];
  return EVENT_TYPES.filter((t) => events.includes(t));
}

export class WebhookService {
  constructor(private readonly db: Db, private readonly o: WebhookOptions) {}

  /** The URL, trimmed, if the rules take it; else the 400 saying why. */
  private async checkedUrl(url: string): Promise<string> {
    const check = await checkWebhookUrl(url, this.o.allowPrivate);
    if (!check.ok) {
      throw new ApiError(400, ErrorCodes.WEBHOOK_URL_REFUSED,
        `The webhook URL is refused: ${check.problem}. Give an http:// or https:// URL whose host resolves to public addresses only (a server that must post to a private network can set OPENCVM_WEBHOOK_ALLOW_PRIVATE=1).`,
        { details: [{ field: 'url', message: check.problem }] });
    }
    return url;
  }

  private async owned(p: Principal, id: string): Promise<WebhookRow> {
    const w = await webhookOf(this.db, p.workspaceId, id);
    if (!w) throw notFound(id);
    return w;
  }

  private secretOf(w: WebhookRow): string {
    const plain = unseal(w.secret_sealed, this.o.sealKey, secretPurpose(w.id));
    if (!plain) {
      throw new ApiError(409, ErrorCodes.WEBHOOK_SECRET_UNREADABLE,
        `The secret of webhook ${w.id} cannot be opened with this server's seal key (the key changed since it was stored): give the webhook a new secret with POST /api/v1/workspace/webhooks/${w.id}/rotate-secret.`);
    }
    return plain.toString('utf8');
  }

  async list(p: Principal): Promise<Webhook[]> {
    return (await listWebhooks(this.db, p.workspaceId)).map((w) => shapeOf(w));
  }

  async get(p: Principal, id: string): Promise<Webhook> {
    return shapeOf(await this.owned(p, id));
  }

  async create(p: Principal, req: CreateWebhookRequest): Promise<Webhook> {
    const url = await this.checkedUrl(req.url);
    const id = `wh_${randomBytes(12).toString('hex')}`;
    const secret = req.secret ?? newWebhookSecret();
    const row = await insertWebhook(this.db, {
      id,
      workspace_id: p.workspaceId,
      name: req.name?.trim() || null,
      url,
      events: normalEvents(req.events),
      secret_sealed: seal(Buffer.from(secret), this.o.sealKey, secretPurpose(id)),
    });
    return shapeOf(row, secret);
  }

  async update(p: Principal, id: string, req: UpdateWebhookRequest): Promise<Webhook> {
    await this.owned(p, id);
    const url = req.url == null ? null : await this.checkedUrl(req.url);
    const row = await updateWebhook(this.db, p.workspaceId, id, {
      url,
      events: req.events == null ? null : normalEvents(req.events),
      name: req.name == null ? null : req.name.trim(),
      enabled: req.enabled ?? null,
    });
    if (!row) throw notFound(id);
    if (row.enabled) this.o.wake();
    return shapeOf(row);
  }

  async remove(p: Principal, id: string): Promise<void> {
    if (!(await deleteWebhook(this.db, p.workspaceId, id))) throw notFound(id);
  }

  async reveal(p: Principal, id: string): Promise<SecretAnswer> {
    const w = await this.owned(p, id);
    const grace = w.previous_secret_expires_at && w.previous_secret_expires_at > new Date() ? w.previous_secret_expires_at.toISOString() : null;
    return { webhook_id: w.id, secret: this.secretOf(w), previous_secret_expires_at: grace };
  }

  async rotate(p: Principal, id: string): Promise<SecretAnswer> {
    await this.owned(p, id);
    const secret = newWebhookSecret();
    const row = await rotateWebhookSecret(this.db, p.workspaceId, id, seal(Buffer.from(secret), this.o.sealKey, secretPurpose(id)), this.o.secretGraceMs);
    if (!row) throw notFound(id);
    return { webhook_id: row.id, secret, previous_secret_expires_at: row.previous_secret_expires_at?.toISOString() ?? null };
  }

  /** A `webhook.test` event, delivered to this webhook only. */
  async test(p: Principal, id: string): Promise<QueuedAnswer> {
    const out = await this.db.tx(async (q) => {
      const w = await webhookOf(q, p.workspaceId, id);
      if (!w) throw notFound(id);
      if (!w.enabled) throw disabled(w, 'a test event');
      const data: WebhookTestData = { webhook_id: w.id, message: 'A test event sent on request.' };
      const e = await insertEvent(q, { workspace_id: p.workspaceId, type: 'webhook.test', data });
      const d = await insertDelivery(q, { webhook_id: w.id, event_seq: e.seq, event_id: e.id, event_type: e.type, cvm_id: null });
      return { snowflake_id: d.id, event_id: e.id, event_type: e.type, status: 'pending' };
    });
    this.o.wake();
    return out;
  }

  /** A new delivery of an event this webhook had a delivery of: the same event, so the same `webhook-id`. */
  async resend(p: Principal, id: string, eventId: string): Promise<QueuedAnswer> {
    const out = await this.db.tx(async (q) => {
      const w = await webhookOf(q, p.workspaceId, id);
      if (!w) throw notFound(id);
      const prior = await deliveryOfEvent(q, w.id, eventId);
      if (!prior) {
        throw new ApiError(404, ErrorCodes.WEBHOOK_EVENT_NOT_FOUND,
          `Webhook ${id} has no delivery of event "${eventId}": list its deliveries with GET /api/v1/workspace/webhooks/${id}/deliveries and take an event_id from there.`);
      }
      if (!w.enabled) throw disabled(w, 'a resend');
      const d = await insertDelivery(q, { webhook_id: w.id, event_seq: prior.event_seq, event_id: prior.event_id, event_type: prior.event_type, cvm_id: prior.cvm_id, resend_of: prior.id });
      return { snowflake_id: d.id, event_id: prior.event_id, event_type: prior.event_type, status: 'pending' };
    });
    this.o.wake();
    return out;
  }

  async deliveries(p: Principal, id: string, limit: number, offset: number): Promise<WebhookDelivery[]> {
    const w = await this.owned(p, id);
    return (await listDeliveries(this.db, w.id, limit, offset)).map((d) => ({
      snowflake_id: d.id,
      event_id: d.event_id,
      event_type: d.event_type,
      status: d.status,
      attempts: d.attempts,
      request_url: d.request_url,
      response_status: d.response_status ?? 0,
      error_message: d.error ?? '',
      duration_ms: d.duration_ms ?? 0,
      created_at: d.created_at.toISOString(),
      delivered_at: d.delivered_at?.toISOString() ?? null,
      original_event_id: d.original_event_id ?? '',
      cvm_id: d.cvm_id,
      next_attempt_at: d.next_attempt_at?.toISOString() ?? null,
      response_excerpt: d.response_excerpt,
      attempt_history: d.history.map((a) => ({
        attempt: a.attempt,
        response_status: a.response_status ?? 0,
        response_excerpt: a.response_excerpt,
        duration_ms: a.duration_ms,
        error_message: a.error ?? '',
        created_at: new Date(a.created_at).toISOString(),
      })),
    }));
  }

  async stats(p: Principal, id: string): Promise<WebhookStats> {
    const w = await this.owned(p, id);
    const s = await deliveryStats(this.db, w.id);
    const ended = s.success_count + s.failed_count;
    return {
      total: s.total,
      success_count: s.success_count,
      failed_count: s.failed_count,
      success_rate: ended === 0 ? 0 : s.success_count / ended,
      avg_duration_ms: s.avg_duration_ms,
      max_duration_ms: s.max_duration_ms,
      last_delivery_at: s.last_delivery_at?.toISOString() ?? null,
      pending_count: s.pending_count,
    };
  }
}
