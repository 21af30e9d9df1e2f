/**
 * The webhook deliverer: in every server process, it claims due deliveries in batches (`claimDueDeliveries`: `FOR UPDATE
 * SKIP LOCKED`, each leased for `leaseMs` to this deliverer's owner id, so servers sharing a database never send one
 * twice at once), sends each (`webhook-delivery.ts`), and records the attempt and the delivery's new state in one
 * statement, as the lease's owner only. A webhook's deliveries of one CVM go out in event order: a delivery is not
 * claimed while an earlier one is pending.
 *
 * A server killed mid-attempt: its owner lock (`owner-lock.ts`, an advisory lock on a connection of its own) is
 * gone with its connections, so the next poll of any live deliverer (the restarted server's first) makes its
 * deliveries in flight due again at once (`releaseOrphanedDeliveries`), sent again with the same `webhook-id`.
 * The lease is the fallback, for a deliverer that lives but hangs.
 *
 * A 2xx is a success. Anything else (a 3xx, which is not followed, a 4xx or 5xx, no answer in time, a refused
 * address, a name that does not resolve in time) is retried after an exponential backoff with jitter (`baseMs`
 * doubling up to `capMs`, each wait between half of that and all of it) until `maxAgeMs` after the delivery was
 * queued (so deliveries held behind an earlier one of their CVM do not each get a window of their own); then the
 * delivery is `failed`.
 *
 * It looks for due deliveries every `pollMs`, after each attempt, and at once when a transaction that queued
 * deliveries commits on any server of the database (`listener()`: `019_webhook_deliverer.sql`'s NOTIFY, heard on
 * the state hub's LISTEN connection).
 */
import type { Db } from '../db/index.ts';
import { unseal } from '../services/seal.ts';
import { checkWebhookUrl } from '../services/webhook-url.ts';
import { deliveryBody, deliveryHeaders, post } from '../services/webhook-delivery.ts';
import type { ChannelListener } from '../services/state-hub.ts';
import {
  claimDueDeliveries,
  DELIVERER_LOCK_NAMESPACE,
  listenForDeliveries,
  recordAttempt,
  releaseOrphanedDeliveries,
  WEBHOOK_DELIVERY_CHANNEL,
  type AttemptOutcome,
  type ClaimedDelivery,
} from '../store/webhooks.ts';
import { ClaimLoop } from './claim-loop.ts';

export interface WebhookDelivererOptions {
  sealKey: Buffer;
  /** `OPENCVM_WEBHOOK_ALLOW_PRIVATE`: private addresses are allowed */
  allowPrivate: boolean;
  /** one attempt's time limit, ms (the name's lookup and the POST each) */
  timeoutMs: number;
  /** no attempt after this long from when the delivery was queued, ms */
  maxAgeMs: number;
  /** how often to look for due deliveries, ms (default 1000) */
  pollMs?: number;
  /** the first retry waits about this long, ms (default 5 s) */
  backoffBaseMs?: number;
  /** no wait longer than this, ms (default 1 h) */
  backoffCapMs?: number;
  /** how long a claim holds a delivery (default twice the time limit, the lookup's and the POST's, plus 5 s) */
  leaseMs?: number;
  /** attempts under way at once (default 8) */
  concurrency?: number;
  log: (fields: Record<string, unknown>, msg: string) => void;
}

/** The purpose a webhook's secrets are sealed for. */
export const secretPurpose = (webhookId: string) => `webhook-secret:${webhookId}`;

export const MAX_ANSWER_BYTES = 64 * 1024;
export const EXCERPT_BYTES = 1024;

/** The wait after failed attempt `attempt` (1 = the first): in [ceiling/2, ceiling), ceiling = min(cap, base · 2^(attempt−1)). */
export function backoffMs(attempt: number, baseMs: number, capMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.floor(ceiling / 2 + (random() * ceiling) / 2);
}

export class WebhookDeliverer {
  /** this deliverer's owner lock, poll and scans */
  private readonly loop: ClaimLoop;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly o: Required<Omit<WebhookDelivererOptions, 'log'>> & Pick<WebhookDelivererOptions, 'log'>;

  constructor(private readonly db: Db, opts: WebhookDelivererOptions) {
    this.o = {
      pollMs: 1000,
      backoffBaseMs: 5000,
      backoffCapMs: 3_600_000,
      leaseMs: opts.timeoutMs * 2 + 5000,
      concurrency: 8,
      ...opts,
    };
    this.loop = new ClaimLoop(db, {
      namespace: DELIVERER_LOCK_NAMESPACE,
      connectionName: 'opencvm-webhooks',
      pollMs: this.o.pollMs,
      releaseOrphans: () => releaseOrphanedDeliveries(db),
      scan: (owner) => this.scan(owner),
      onLost: (owner, err) => {
        if (!this.loop.stopping) this.o.log({ err, owner }, 'webhook deliverer lost its database lock connection: the deliveries in hand go to other servers; it takes a new lock');
      },
      what: 'webhook delivery',
      log: (err, msg) => this.o.log({ err }, msg),
    });
  }

  /**
   * Take an owner id and its lock, make the deliveries of deliverers that are gone (this server's previous
   * process, a replica that died) due at once, then start sending.
   */
  start(): Promise<void> {
    return this.loop.start();
  }

  /** Stop claiming; wait for the claim and the attempts under way (each ends within its time limits), then let go of the lock. */
  stop(): Promise<void> {
    return this.loop.stop(() => Promise.allSettled([...this.inFlight]));
  }

  /** What the state hub's LISTEN connection wakes it with when deliveries are queued. */
  listener(): ChannelListener {
    return { channel: WEBHOOK_DELIVERY_CHANNEL, subscribe: listenForDeliveries, wake: () => this.wake() };
  }

  /** Look for due deliveries now (after a test or a resend queued one). */
  wake(): void {
    this.loop.wake();
  }

  /** Claim due deliveries as `owner`, in batches, while slots are free, and attempt each. */
  private async scan(owner: number): Promise<void> {
    while (!this.loop.stopping && this.loop.owner === owner && this.inFlight.size < this.o.concurrency) {
      // claim in batches: while attempts are under way, wait until half the slots are free (one claim query
      // for several deliveries, not one per delivery)
      if (this.inFlight.size > 0 && this.o.concurrency - this.inFlight.size < Math.ceil(this.o.concurrency / 2)) return;
      const claimed = await claimDueDeliveries(this.db, String(owner), this.o.leaseMs, this.o.concurrency - this.inFlight.size);
      if (!claimed.length) return;
      for (const d of claimed) {
        const p: Promise<void> = this.attempt(d, String(owner))
          .catch((err) => this.o.log({ err, delivery_id: d.id, webhook_id: d.webhook_id }, 'webhook attempt could not be recorded; it is sent again once its lease lapses or its server is gone'))
          .finally(() => {
            this.inFlight.delete(p);
            this.wake();
          });
        this.inFlight.add(p);
      }
    }
  }

  private async attempt(d: ClaimedDelivery, owner: string): Promise<void> {
    const started = performance.now();
    // whatever goes wrong in sending is this attempt's outcome (retried, given up in time), never a lost delivery
    const outcome = await this.send(d).catch((err: Error) => ({ requestUrl: d.url, responseStatus: null, responseExcerpt: null, error: `the attempt failed: ${err.message}` }));
    const durationMs = Math.round(performance.now() - started);
    const result: Omit<AttemptOutcome, 'result'> = { ...outcome, durationMs };
    const ok = outcome.responseStatus !== null && outcome.responseStatus >= 200 && outcome.responseStatus < 300;
    let full: AttemptOutcome;
    if (ok) full = { ...result, result: 'succeeded' };
    else {
      const wait = backoffMs(d.attempts, this.o.backoffBaseMs, this.o.backoffCapMs);
      const giveUp = Date.now() + wait - d.queued_at.getTime() > this.o.maxAgeMs;
      full = giveUp
        ? { ...result, result: 'failed', error: `${outcome.error ?? 'failed'} (gave up after ${d.attempts} attempts: no 2xx within ${Math.round(this.o.maxAgeMs / 1000)} s of being queued)` }
        : { ...result, result: 'retry', retryInMs: wait };
    }
    const recorded = await recordAttempt(this.db, d.id, d.attempts, owner, full);
    const fields = { delivery_id: d.id, webhook_id: d.webhook_id, event_id: d.event_id, attempt: d.attempts, status: outcome.responseStatus, duration_ms: durationMs };
    if (!recorded) this.o.log(fields, 'webhook attempt not recorded: the delivery is no longer this server\'s (its lease lapsed or this server lost its lock, and another server has it) or the webhook was deleted');
    else if (full.result === 'failed') this.o.log(fields, `webhook delivery failed: ${full.error}`);
  }

  /** Check the URL again (DNS may have changed), sign, post. */
  private async send(d: ClaimedDelivery): Promise<Omit<AttemptOutcome, 'result' | 'durationMs'>> {
    const none = (error: string) => ({ requestUrl: d.url, responseStatus: null, responseExcerpt: null, error });
    const target = await checkWebhookUrl(d.url, this.o.allowPrivate, this.o.timeoutMs);
    if (!target.ok) return none(`the URL is refused: ${target.problem}`);
    // the current secret signs, and the previous one during its grace period if it can still be opened (a
    // rotation is how a secret sealed under an older seal key is replaced)
    const current = unseal(d.secret_sealed, this.o.sealKey, secretPurpose(d.webhook_id));
    if (!current) return none("the webhook's secret cannot be opened with this server's seal key: rotate the secret");
    const previous = d.previous_secret_sealed ? unseal(d.previous_secret_sealed, this.o.sealKey, secretPurpose(d.webhook_id)) : null;
    const secrets = [current, ...(previous ? [previous] : [])].map((b) => b.toString('utf8'));
    const body = deliveryBody(d);
    const timestamp = Math.floor(Date.now() / 1000);
    // Standard Webhooks' headers (a signature per secret) and Phala Cloud's X-Webhook-* (the current secret's)
    const headers = deliveryHeaders(d.event_id, d.event_type, timestamp, body, secrets);
    const res = await post(target, headers, body, { timeoutMs: this.o.timeoutMs, maxBytes: MAX_ANSWER_BYTES, excerptBytes: EXCERPT_BYTES });
    let error = res.problem;
    if (res.status !== null && (res.status < 200 || res.status >= 300)) {
      const why = res.status >= 300 && res.status < 400 ? `a redirect (HTTP ${res.status}), which is not followed: answer 2xx at the webhook's URL` : `HTTP ${res.status}`;
      error = error ? `${why}; ${error}` : why;
    }
    return { requestUrl: d.url, responseStatus: res.status, responseExcerpt: res.excerpt?.replace(/\u0000/g, '') ?? null, error };
  }
}
