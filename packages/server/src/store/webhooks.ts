/**
 * `webhooks`, `webhook_deliveries`, `webhook_attempts` (017_webhooks.sql): a workspace's webhooks, what is to be
 * sent to them (the fan-out trigger on `events` inserts a delivery per matching webhook), and each attempt.
 */
import type { Queryable } from '../db/index.ts';
import { liveOwners } from './owner-locks.ts';

export interface WebhookRow {
  id: string;
  workspace_id: number;
  name: string | null;
  url: string;
  events: string[];
  enabled: boolean;
  secret_sealed: string;
  previous_secret_sealed: string | null;
  previous_secret_expires_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

const WEBHOOK = `id, workspace_id, name, url, events, enabled, secret_sealed, previous_secret_sealed, previous_secret_expires_at, created_at, updated_at`;

export async function insertWebhook(
  q: Queryable,
  w: Pick<WebhookRow, 'id' | 'workspace_id' | 'name' | 'url' | 'events' | 'secret_sealed'>,
): Promise<WebhookRow> {
  const [row] = await q.query<WebhookRow>(
    `INSERT INTO webhooks (id, workspace_id, name, url, events, secret_sealed) VALUES ($1, $2, $3, $4, $5::text[], $6) RETURNING ${WEBHOOK}`,
    [w.id, w.workspace_id, w.name, w.url, w.events, w.secret_sealed],
  );
  return row;
}

/** The workspace's webhooks, oldest first. */
export function listWebhooks(q: Queryable, workspaceId: number): Promise<WebhookRow[]> {
  return q.query<WebhookRow>(`SELECT ${WEBHOOK} FROM webhooks WHERE workspace_id = $1 ORDER BY seq`, [workspaceId]);
}

/** The workspace's webhook with this id (another workspace's: null). */
export async function webhookOf(q: Queryable, workspaceId: number, id: string): Promise<WebhookRow | null> {
  const [row] = await q.query<WebhookRow>(`SELECT ${WEBHOOK} FROM webhooks WHERE workspace_id = $1 AND id = $2`, [workspaceId, id]);
  return row ?? null;
}

/** Change what is given (null: unchanged); the row after, or null if the workspace has no such webhook. */
export async function updateWebhook(
  q: Queryable,
  workspaceId: number,
  id: string,
  c: { url: string | null; events: string[] | null; name: string | null; enabled: boolean | null },
): Promise<WebhookRow | null> {
  const [row] = await q.query<WebhookRow>(
    `UPDATE webhooks SET url = coalesce($3, url), events = coalesce($4::text[], events), name = coalesce($5, name),
            enabled = coalesce($6, enabled), updated_at = now()
      WHERE workspace_id = $1 AND id = $2 RETURNING ${WEBHOOK}`,
    [workspaceId, id, c.url, c.events, c.name, c.enabled],
  );
  return row ?? null;
}

export async function deleteWebhook(q: Queryable, workspaceId: number, id: string): Promise<boolean> {
  const rows = await q.query('DELETE FROM webhooks WHERE workspace_id = $1 AND id = $2 RETURNING id', [workspaceId, id]);
  return rows.length > 0;
}

/** The new secret in place; the one it replaces signs too until `graceMs` from now. */
export async function rotateWebhookSecret(q: Queryable, workspaceId: number, id: string, sealed: string, graceMs: number): Promise<WebhookRow | null> {
  const [row] = await q.query<WebhookRow>(
    `UPDATE webhooks SET previous_secret_sealed = secret_sealed, previous_secret_expires_at = now() + $4 * interval '1 millisecond',
            secret_sealed = $3, updated_at = now()
      WHERE workspace_id = $1 AND id = $2 RETURNING ${WEBHOOK}`,
    [workspaceId, id, sealed, graceMs],
  );
  return row ?? null;
}

export interface EventRow {
  seq: number;
  id: string;
  type: string;
  cvm_id: number | null;
  created_at: Date;
}

/**
 * Record an event (the fan-out trigger queues its deliveries in this transaction). Used by the test endpoint
 * (`webhook.test`) and by tests; the CVM events are written by the changes they describe.
 */
export async function insertEvent(
  q: Queryable,
  e: { workspace_id: number | null; cvm_id?: number | null; app_id?: string | null; type: string; data?: Record<string, unknown> },
): Promise<EventRow> {
  const [row] = await q.query<EventRow>(
    `INSERT INTO events (workspace_id, cvm_id, app_id, type, data) VALUES ($1, $2, $3, $4, $5::jsonb) RETURNING seq, id, type, cvm_id, created_at`,
    [e.workspace_id, e.cvm_id ?? null, e.app_id ?? null, e.type, JSON.stringify(e.data ?? {})],
  );
  return row;
}

/**
 * Record many events in one statement (the fan-out trigger queues their deliveries, row by row, in this
 * transaction), numbered in the order given. For the bench and tests.
 */
export async function insertEvents(
  q: Queryable,
  events: { workspace_id: number | null; cvm_id: number | null; app_id: string | null; type: string; data: Record<string, unknown> }[],
): Promise<number> {
  const rows = await q.query<{ seq: number }>(
    `INSERT INTO events (workspace_id, cvm_id, app_id, type, data)
     SELECT w, c, a, t, d::jsonb FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[]) WITH ORDINALITY AS e(w, c, a, t, d, n)
      ORDER BY n RETURNING seq`,
    [events.map((e) => e.workspace_id), events.map((e) => e.cvm_id), events.map((e) => e.app_id), events.map((e) => e.type), events.map((e) => JSON.stringify(e.data))],
  );
  return rows.length;
}

/** Queue one delivery of an event to one webhook (a test event, or a resend). */
export async function insertDelivery(
  q: Queryable,
  d: { webhook_id: string; event_seq: number; event_id: string; event_type: string; cvm_id: number | null; resend_of?: number | null },
): Promise<{ id: number }> {
  const [row] = await q.query<{ id: number }>(
    `INSERT INTO webhook_deliveries (webhook_id, event_seq, event_id, event_type, cvm_id, resend_of) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
    [d.webhook_id, d.event_seq, d.event_id, d.event_type, d.cvm_id, d.resend_of ?? null],
  );
  return row;
}

/** The webhook's latest delivery of the event `eventId` (for a resend), or null. */
export async function deliveryOfEvent(q: Queryable, webhookId: string, eventId: string) {
  const [row] = await q.query<{ id: number; event_seq: number; event_id: string; event_type: string; cvm_id: number | null }>(
    `SELECT id, event_seq, event_id, event_type, cvm_id FROM webhook_deliveries WHERE webhook_id = $1 AND event_id = $2 ORDER BY id DESC LIMIT 1`,
    [webhookId, eventId],
  );
  return row ?? null;
}

export interface DeliveryListing {
  id: number;
  event_id: string;
  event_type: string;
  status: string;
  attempts: number;
  request_url: string;
  response_status: number | null;
  response_excerpt: string | null;
  duration_ms: number | null;
  error: string | null;
  cvm_id: number | null;
  created_at: Date;
  delivered_at: Date | null;
  next_attempt_at: Date | null;
  original_event_id: string | null;
  history: { attempt: number; response_status: number | null; response_excerpt: string | null; duration_ms: number; error: string | null; created_at: string }[];
}

/** The webhook's deliveries, newest first, each with its attempts (oldest first). */
export function listDeliveries(q: Queryable, webhookId: string, limit: number, offset: number): Promise<DeliveryListing[]> {
  return q.query<DeliveryListing>(
    `SELECT d.id, d.event_id, d.event_type, d.status, d.attempts, coalesce(d.request_url, w.url) AS request_url, d.response_status,
            d.response_excerpt, d.duration_ms, d.error, d.cvm_id, d.created_at, d.delivered_at,
            CASE WHEN d.status = 'pending' THEN d.next_attempt_at END AS next_attempt_at,
            o.event_id AS original_event_id,
            coalesce((SELECT json_agg(json_build_object('attempt', a.attempt, 'response_status', a.response_status,
                        'response_excerpt', a.response_excerpt, 'duration_ms', a.duration_ms, 'error', a.error,
                        'created_at', a.created_at) ORDER BY a.id)
                        FROM webhook_attempts a WHERE a.delivery_id = d.id), '[]'::json) AS history
       FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
       LEFT JOIN webhook_deliveries o ON o.id = d.resend_of
      WHERE d.webhook_id = $1 ORDER BY d.id DESC LIMIT $2 OFFSET $3`,
    [webhookId, limit, offset],
  );
}

export interface DeliveryStats {
  total: number;
  success_count: number;
  failed_count: number;
  pending_count: number;
  avg_duration_ms: number;
  max_duration_ms: number;
  last_delivery_at: Date | null;
}

export async function deliveryStats(q: Queryable, webhookId: string): Promise<DeliveryStats> {
  const [row] = await q.query<DeliveryStats>(
    `SELECT count(*)::int AS total,
            count(*) FILTER (WHERE status = 'succeeded')::int AS success_count,
            count(*) FILTER (WHERE status = 'failed')::int AS failed_count,
            count(*) FILTER (WHERE status = 'pending')::int AS pending_count,
            max(delivered_at) AS last_delivery_at,
            (SELECT coalesce(round(avg(a.duration_ms)), 0)::int FROM webhook_attempts a JOIN webhook_deliveries x ON x.id = a.delivery_id WHERE x.webhook_id = $1) AS avg_duration_ms,
            (SELECT coalesce(max(a.duration_ms), 0)::int FROM webhook_attempts a JOIN webhook_deliveries x ON x.id = a.delivery_id WHERE x.webhook_id = $1) AS max_duration_ms
       FROM webhook_deliveries WHERE webhook_id = $1`,
    [webhookId],
  );
  return row;
}

/** A delivery claimed for an attempt, with what sending it needs. */
export interface ClaimedDelivery {
  id: number;
  attempts: number;
  /** when it was queued (its event's fan-out, a test, a resend): the retry window counts from here */
  queued_at: Date;
  webhook_id: string;
  url: string;
  secret_sealed: string;
  previous_secret_sealed: string | null;
  previous_secret_expires_at: Date | null;
  event_id: string;
  event_type: string;
  event_created_at: Date;
  event_data: Record<string, unknown>;
  workspace_id: number | null;
  /** the webhook's workspace, as `GET /workspaces` shows it (the delivery body's `workspace`) */
  workspace_name: string;
  workspace_slug: string;
  cvm_id: number | null;
  app_id: string | null;
}

/**
 * Claim up to `limit` due deliveries for `owner` (`FOR UPDATE SKIP LOCKED`, so servers sharing the database
 * never claim one twice): each counts an attempt and is leased until `leaseMs` from now (`next_attempt_at`),
 * so one whose server dies mid-attempt is due again then, or at once when `releaseOrphanedDeliveries` sees
 * that server's owner lock gone. Only a delivery with no earlier one (by event seq) of
 * the same webhook and CVM still pending, of an enabled webhook.
 */
export function claimDueDeliveries(q: Queryable, owner: string, leaseMs: number, limit: number): Promise<ClaimedDelivery[]> {
  return q.query<ClaimedDelivery>(
    `WITH heads AS (
       -- the first pending delivery (event seq, id) of each webhook and CVM; one without a CVM is never held
       SELECT DISTINCT ON (webhook_id, cvm_id) id FROM webhook_deliveries
        WHERE status = 'pending' AND cvm_id IS NOT NULL ORDER BY webhook_id, cvm_id, event_seq, id
     ), due AS (
       SELECT c.id FROM webhook_deliveries c JOIN webhooks w ON w.id = c.webhook_id AND w.enabled
        WHERE c.status = 'pending' AND c.next_attempt_at <= now()
          AND (c.cvm_id IS NULL OR c.id IN (SELECT id FROM heads))
        ORDER BY c.next_attempt_at, c.id LIMIT $3 FOR UPDATE OF c SKIP LOCKED
     ), claimed AS (
       UPDATE webhook_deliveries d SET attempts = d.attempts + 1, lease_owner = $1,
              next_attempt_at = now() + $2 * interval '1 millisecond', first_attempt_at = coalesce(d.first_attempt_at, now())
         FROM due WHERE d.id = due.id
       RETURNING d.*
     )
     SELECT c.id, c.attempts, c.created_at AS queued_at, c.webhook_id, w.url, w.secret_sealed,
            CASE WHEN w.previous_secret_expires_at > now() THEN w.previous_secret_sealed END AS previous_secret_sealed,
            w.previous_secret_expires_at, c.event_id, c.event_type, e.created_at AS event_created_at, e.data AS event_data,
            e.workspace_id, ws.name AS workspace_name, ws.slug AS workspace_slug, e.cvm_id, e.app_id
       FROM claimed c JOIN webhooks w ON w.id = c.webhook_id JOIN events e ON e.seq = c.event_seq JOIN workspaces ws ON ws.id = w.workspace_id
      ORDER BY c.id`,
    [owner, leaseMs, limit],
  );
}

/**
 * The first key of the owner lock each webhook deliverer holds (`worker/owner-lock.ts`); the second is its
 * owner id, recorded as `lease_owner` on the deliveries it claims.
 */
export const DELIVERER_LOCK_NAMESPACE = 0x6f637768;

/**
 * Make due now the deliveries in flight whose deliverer is gone: its owner lock is not held (the process died,
 * or its lock connection broke), or it is not an owner id at all (leased by an older version). Answers how many.
 */
export async function releaseOrphanedDeliveries(q: Queryable): Promise<number> {
  const rows = await q.query(
    `UPDATE webhook_deliveries SET next_attempt_at = now(), lease_owner = NULL
      WHERE lease_owner IS NOT NULL AND status = 'pending'
        AND (lease_owner !~ '^[0-9]{1,18}$' OR lease_owner::bigint NOT IN (${liveOwners(DELIVERER_LOCK_NAMESPACE)}))
      RETURNING id`,
  );
  return rows.length;
}

/**
 * The channel `019_webhook_deliverer.sql`'s trigger notifies (empty payload) when a transaction that queued
 * deliveries commits.
 */
export const WEBHOOK_DELIVERY_CHANNEL = 'webhook_delivery';

/** Subscribe `session` (a connection of its own) to the queued deliveries. */
export async function listenForDeliveries(session: Queryable): Promise<void> {
  await session.query(`LISTEN ${WEBHOOK_DELIVERY_CHANNEL}`);
}

/** How an attempt ended. */
export interface AttemptOutcome {
  requestUrl: string;
  responseStatus: number | null;
  responseExcerpt: string | null;
  durationMs: number;
  error: string | null;
  /** succeeded: delivered; failed: given up; retry: due again at `retryInMs` */
  result: 'succeeded' | 'failed' | 'retry';
  retryInMs?: number;
}

/**
 * Record an attempt and its delivery's new state, as `owner` only (a delivery whose lease lapsed and that another
 * server claimed meanwhile is that server's to record): whether it was recorded.
 */
export async function recordAttempt(q: Queryable, deliveryId: number, attempt: number, owner: string, o: AttemptOutcome): Promise<boolean> {
  const [row] = await q.query<{ recorded: boolean }>(
    `WITH d AS (
       UPDATE webhook_deliveries SET
              status = CASE $4::text WHEN 'retry' THEN 'pending' ELSE $4::text END,
              next_attempt_at = CASE WHEN $4::text = 'retry' THEN now() + $10 * interval '1 millisecond' ELSE next_attempt_at END,
              lease_owner = NULL, request_url = $5, response_status = $6, response_excerpt = $7, duration_ms = $8, error = $9,
              delivered_at = CASE WHEN $4::text = 'succeeded' THEN now() END,
              finished_at = CASE WHEN $4::text <> 'retry' THEN now() END
        WHERE id = $1 AND lease_owner = $3 AND attempts = $2 AND status = 'pending'
       RETURNING id
     ), a AS (
       INSERT INTO webhook_attempts (delivery_id, attempt, request_url, response_status, response_excerpt, duration_ms, error)
       SELECT id, $2, $5, $6, $7, $8, $9 FROM d RETURNING id
     )
     SELECT EXISTS (SELECT 1 FROM a) AS recorded`,
    [deliveryId, attempt, owner, o.result, o.requestUrl, o.responseStatus, o.responseExcerpt, o.durationMs, o.error, o.retryInMs ?? 0],
  );
  return row.recorded;
}

/** Deliveries still pending (tests wait for none). */
export async function pendingDeliveries(q: Queryable): Promise<number> {
  const [row] = await q.query<{ n: number }>(`SELECT count(*)::int AS n FROM webhook_deliveries WHERE status = 'pending'`);
  return row.n;
}
