/**
 * g. Webhook deliveries per second: events delivered, signed, to a receiver on 127.0.0.1, against a bare loop
 *    posting the same bodies to the same receiver in the same run.
 *
 *    The server (this process, its webhook deliverer as in production: `OPENCVM_WEBHOOK_*` defaults, the
 *    database the run uses) has one webhook (`*`) in the workspace, to a node:http receiver in this process that
 *    answers 200. `EVENTS` events of `CVMS` CVMs (interleaved, so each CVM's deliveries queue behind its earlier
 *    ones) are recorded through the real path, the `events` table's fan-out trigger (store `insertEvents`, in
 *    batches of `BATCH`, one transaction each), after a warm-up of `WARMUP` events. Timed: from the first batch's
 *    INSERT until the receiver has answered every event (each counted once by its `webhook-id`).
 *    Each delivery is a claim (`FOR UPDATE SKIP LOCKED`, in event order per CVM), the URL checked, the secret
 *    opened, the body signed (Standard Webhooks and Phala Cloud's X-Webhook-Signature), the POST, and the attempt recorded.
 *
 *    Baseline ("bare"): the same bodies the receiver got, posted to the same receiver with the same HTTP client
 *    (services/webhook-delivery.ts `post`, the same limits), at the deliverer's concurrency: no database, no
 *    signing, no URL check. Reported: deliveries/s, bare posts/s, their ratio. No target: figures only.
 *
 * Alone: `npm run bench:webhooks` (`BENCH_ONLY=webhooks`; on the embedded PostgreSQL, BENCH_DB=postgres: a throwaway
 * cluster). In `npm run bench`, on the embedded PostgreSQL.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { startServer } from '../packages/server/src/app.ts';
import { simulatedDeviceId } from '../packages/server/src/services/nodes.ts';
import { checkWebhookUrl } from '../packages/server/src/services/webhook-url.ts';
import { post } from '../packages/server/src/services/webhook-delivery.ts';
import { EXCERPT_BYTES, MAX_ANSWER_BYTES } from '../packages/server/src/worker/webhooks.ts';
import { insertEvents } from '../packages/server/src/store/webhooks.ts';
import { benchServerConfig, launchSim } from './sim-launch.ts';

export const EVENTS = Number(process.env.BENCH_WEBHOOK_EVENTS ?? 2000);
const CVMS = 100;
const BATCH = 200;
const WARMUP = 100;
/** the deliverer's attempts under way at once (its default), and the bare loop's */
export const WEBHOOK_CONCURRENCY = 8;
const WAIT_MS = 120_000;

export interface WebhooksResult {
  events: number;
  deliverySeconds: number;
  bareSeconds: number;
  deliveriesPerSec: number;
  barePerSec: number;
  ratio: number;
  /** requests the receiver got in the timed run (more than `events` if some were sent twice) */
  requests: number;
}

interface Receiver {
  url: string;
  server: Server;
  /** first body per webhook-id, in arrival order */
  bodies: Map<string, string>;
  requests: number;
  /** the first request's headers and body */
  sample: { headers: Record<string, string>; body: string } | null;
  /** resolves when `bodies` has n entries */
  until(n: number): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  let waiting: { n: number; resolve: () => void } | null = null;
  const r: Receiver = {
    url: '',
    server: undefined as unknown as Server,
    bodies: new Map(),
    requests: 0,
    sample: null,
    until: (n) =>
      new Promise<void>((resolve, reject) => {
        if (r.bodies.size >= n) return resolve();
        const timer = setTimeout(() => reject(new Error(`the receiver got ${r.bodies.size} of ${n} events within ${WAIT_MS / 1000} s`)), WAIT_MS);
        waiting = { n, resolve: () => (clearTimeout(timer), resolve()) };
      }),
  };
  r.server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      r.requests++;
      const id = req.headers['webhook-id'];
      r.sample ??= { headers: req.headers as Record<string, string>, body: Buffer.concat(chunks).toString('utf8') };
      if (typeof id === 'string' && !r.bodies.has(id)) r.bodies.set(id, Buffer.concat(chunks).toString('utf8'));
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
      if (waiting && r.bodies.size >= waiting.n) {
        const w = waiting;
        waiting = null;
        w.resolve();
      }
    });
  });
  await new Promise<void>((resolve) => r.server.listen(0, '127.0.0.1', resolve));
  r.url = `http://127.0.0.1:${(r.server.address() as AddressInfo).port}`;
  return r;
}

/** The bare loop: `bodies` posted with `concurrency` at once, the same client as the deliverer's. */
async function bareLoop(url: string, bodies: string[], concurrency: number, timeoutMs: number): Promise<number> {
  const target = await checkWebhookUrl(url, true);
  if (!target.ok) throw new Error(target.problem);
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < bodies.length) {
        const body = bodies[next++];
        const res = await post(target, {}, body, { timeoutMs, maxBytes: MAX_ANSWER_BYTES, excerptBytes: EXCERPT_BYTES });
        if (res.status !== 200) throw new Error(`the bare loop's post failed: ${res.status} ${res.problem}`);
      }
    }),
  );
  return (performance.now() - t0) / 1000;
}

export async function benchWebhooks(databaseUrl: string | undefined, opts: { dbPool?: number } = {}): Promise<WebhooksResult> {
  const dataDir = mkdtempSync(join(tmpdir(), 'opencvm-bench-webhooks-'));
  const kmsToken = randomBytes(24).toString('base64url');
  const apiKey = `phak_bench_${randomBytes(24).toString('base64url')}`;
  const sim = await launchSim({ name: 'webhooks-sim', kmsToken, deviceId: simulatedDeviceId('webhooks-sim') }, true);
  const receiver = await startReceiver();
  const config = { ...benchServerConfig({ dataDir, databaseUrl, apiKey, host: { name: 'webhooks-sim', url: sim.url, kmsToken }, dbPool: opts.dbPool }), webhookAllowPrivate: true };
  const server = await startServer({ config, logger: process.env.BENCH_LOG === '1' });
  try {
    const res = await fetch(`${server.apiUrl}/workspace/webhooks`, {
      method: 'POST',
      headers: { 'x-api-key': apiKey, 'content-type': 'application/json' },
      body: JSON.stringify({ url: `${receiver.url}/bench`, events: ['*'], name: 'bench' }),
    });
    if (res.status !== 201) throw new Error(`creating the webhook: ${res.status} ${await res.text()}`);
    const { secret } = (await res.json()) as { secret: string };
    const workspaceId = (await server.services.auth.authenticate(apiKey)).workspaceId;

    const appId = 'ab'.repeat(20);
    const events = (from: number, n: number) =>
      Array.from({ length: n }, (_, k) => {
        const i = from + k;
        const cvm = 1 + (i % CVMS);
        return { workspace_id: workspaceId, cvm_id: cvm, app_id: appId, type: 'cvm.status_changed', data: { cvm_id: cvm, vm_uuid: null, name: `bench-${cvm}`, app_id: appId, status: 'running', from: 'starting', to: 'running', n: i } };
      });

    // warm-up (connections, the deliverer's loop, the planner), not timed
    await insertEvents(server.db, events(0, WARMUP));
    await receiver.until(WARMUP);
    // deliveries are signed as Standard Webhooks says (one checked, outside the timing)
    const sample = receiver.sample!;
    new StandardWebhook(secret).verify(sample.body, sample.headers);
    receiver.bodies.clear();
    receiver.requests = 0;

    const t0 = performance.now();
    for (let i = 0; i < EVENTS; i += BATCH) await insertEvents(server.db, events(WARMUP + i, Math.min(BATCH, EVENTS - i)));
    await receiver.until(EVENTS);
    const deliverySeconds = (performance.now() - t0) / 1000;
    const requests = receiver.requests;
    const bodies = [...receiver.bodies.values()];

    const bareSeconds = await bareLoop(`${receiver.url}/bench`, bodies, WEBHOOK_CONCURRENCY, config.webhookTimeoutMs);
    const deliveriesPerSec = EVENTS / deliverySeconds;
    const barePerSec = EVENTS / bareSeconds;
    return { events: EVENTS, deliverySeconds, bareSeconds, deliveriesPerSec, barePerSec, ratio: deliveriesPerSec / barePerSec, requests };
  } finally {
    await server.close();
    await new Promise((r) => receiver.server.close(r));
    await sim.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const f1 = (n: number) => n.toFixed(1);

export function reportWebhooks(r: WebhooksResult) {
  console.log(`\n  g. webhook deliveries: ${r.events} events of ${CVMS} CVMs recorded through the events fan-out trigger (batches of ${BATCH}), one webhook, a receiver on 127.0.0.1`);
  console.log(`     server: delivered, signed (Standard Webhooks and X-Webhook-Signature), each attempt recorded  ${f1(r.deliveriesPerSec).padStart(8)} events/s  (${r.deliverySeconds.toFixed(2)} s, ${r.requests} requests)`);
  console.log(`     bare: the same bodies posted by the same client, ${WEBHOOK_CONCURRENCY} at once, no database, no signing  ${f1(r.barePerSec).padStart(8)} posts/s  (${r.bareSeconds.toFixed(2)} s)`);
  console.log(`     ratio server / bare = ${r.ratio.toFixed(2)}   (no target: figures only)`);
}

export function summaryWebhooks(r: WebhooksResult): string {
  return `  webhooks: ${f1(r.deliveriesPerSec)} deliveries/s / bare ${f1(r.barePerSec)} posts/s = ${r.ratio.toFixed(2)}`;
}
