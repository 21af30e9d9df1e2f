/**
 * The server's Prometheus metrics (`GET /metrics`, the text exposition format). Every label takes values from a
 * bounded set: a route's path template (`/api/v1/cvms/:id`, never the URL a caller sent, which may carry ids or
 * a token), an HTTP method of a fixed list, a status class, an operation kind of the contract, a registered
 * host's name, a pRPC method name. The series:
 *
 * - `opencvm_http_request_duration_seconds{method, route, status_class}`: every answer (`route="unmatched"`
 *   for a request no route served: no such path, a malformed URL);
 * - `opencvm_operation_runs_total{kind, outcome}`: each run of an operation by the worker, by how it ended:
 *   `succeeded` and `failed` (the operation is finished), `retry` (the host could not be reached: it runs again
 *   after a backoff), `interrupted` (the worker stopped: the next start takes it up);
 * - `opencvm_operation_duration_seconds{kind, outcome}`: a finished operation, from queued to finished;
 * - `opencvm_operations{kind, state}`: the active operations (`pending`, `running`), read from the database
 *   at scrape time, as are `opencvm_operation_queue_depth` (due and held by no worker) and
 *   `opencvm_operation_queue_oldest_due_seconds` (how long the longest-waiting of those has been due);
 *   `opencvm_database_up` says whether that read succeeded (when not, the queue's gauges are NaN);
 * - `opencvm_host_call_duration_seconds{node, method}` and `opencvm_host_call_errors_total{node, method, reason}`
 *   (`unreachable`: no answer in time; `error`: the host answered with an error or a shape dstack-vmm never sends);
 * - `opencvm_kms_key_releases_total{outcome}`: the KMS's `GetAppKey`, `released` or `refused`;
 * - the process's own (`process_*`, `nodejs_*`: CPU, memory, event loop lag, GC), from prom-client.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { ApiError, ErrorCodes, OPERATION_KINDS } from '@opencvm/core';
import type { FastifyInstance } from 'fastify';
import type { Db } from '../db/index.ts';
import type { HostError } from '../hosts/vmm-client.ts';
import { operationQueue } from '../store/operation-stats.ts';
import type { RunOutcome } from '../worker/log.ts';

/** The route label of a request no route served. */
export const UNMATCHED_ROUTE = 'unmatched';
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
const KINDS = new Set<string>(OPERATION_KINDS);
/** How long a scrape waits for the database before it answers without the queue's gauges. */
const QUEUE_READ_TIMEOUT_MS = 2000;

let processRegistry: Registry | undefined;

/** The process's metrics: one collector per process, however many servers it runs (tests run several). */
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

/** `p`, or an error naming `what` if it has not settled within `ms` (the timer is cleared either way). */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

const sha256 = (text: string) => createHash('sha256').update(text).digest();

export class MetricsService {
  private readonly registry = new Registry();
  private readonly http = new Histogram({
    name: 'opencvm_http_request_duration_seconds',
    help: 'HTTP answers: time from the request to the end of the answer, by method, route (path template) and status class',
    labelNames: ['method', 'route', 'status_class'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  private readonly httpSeries = new Map<string, { observe(seconds: number): void }>();
  private readonly runs = new Counter({
    name: 'opencvm_operation_runs_total',
    help: 'Runs of an operation by the worker, by kind and how the run ended: succeeded or failed (finished), retry or interrupted (to run again)',
    labelNames: ['kind', 'outcome'] as const,
    registers: [this.registry],
  });
  private readonly opDuration = new Histogram({
    name: 'opencvm_operation_duration_seconds',
    help: 'Finished operations: time from queued to finished, by kind and outcome',
    labelNames: ['kind', 'outcome'] as const,
    buckets: [0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800],
    registers: [this.registry],
  });
  private readonly active = new Gauge({
    name: 'opencvm_operations',
    help: 'Active operations by kind and state (pending: queued; running: claimed by a worker, or waiting for a retry)',
    labelNames: ['kind', 'state'] as const,
    registers: [this.registry],
  });
  private readonly depth = new Gauge({
    name: 'opencvm_operation_queue_depth',
    help: 'Operations that are due and held by no worker',
    registers: [this.registry],
  });
  private readonly oldestDue = new Gauge({
    name: 'opencvm_operation_queue_oldest_due_seconds',
    help: 'How long the longest-waiting due operation has been due (0 when none is)',
    registers: [this.registry],
  });
  private readonly dbUp = new Gauge({
    name: 'opencvm_database_up',
    help: "Whether this scrape's read of the operation queue succeeded (1) or the database did not answer (0)",
    registers: [this.registry],
  });
  private readonly hostCalls = new Histogram({
    name: 'opencvm_host_call_duration_seconds',
    help: 'Calls to a dstack-vmm host (pRPC and its guest API), by node and method, failed ones included',
    labelNames: ['node', 'method'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15],
    registers: [this.registry],
  });
  private readonly hostErrors = new Counter({
    name: 'opencvm_host_call_errors_total',
    help: 'Failed calls to a dstack-vmm host, by node, method and reason (unreachable: no answer in time; error: the host answered with an error or an unexpected shape)',
    labelNames: ['node', 'method', 'reason'] as const,
    registers: [this.registry],
  });
  private readonly kms = new Counter({
    name: 'opencvm_kms_key_releases_total',
    help: "The built-in KMS's GetAppKey answers to guests: keys released, or refused (unknown host credential, no such CVM on that host, another app or compose hash)",
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  private readonly tokenHash: Buffer | undefined;

  constructor(
    private readonly db: Db,
    /** when set, a scrape must send it as `Authorization: Bearer` */
    token?: string,
  ) {
    this.tokenHash = token ? sha256(token) : undefined;
    processMetrics();
    for (const outcome of ['released', 'refused']) this.kms.inc({ outcome }, 0);
  }

  /** The exposition format's media type. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** A scrape is allowed: no token is configured, or `Authorization: Bearer <token>` carries it. 401 otherwise. */
  authorize(authorization: string | undefined): void {
    if (!this.tokenHash) return;
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (m && timingSafeEqual(sha256(m[1]), this.tokenHash)) return;
    throw new ApiError(401, ErrorCodes.METRICS_TOKEN_INVALID,
      `${authorization ? 'This is not the metrics token' : 'GET /metrics needs the metrics token'}: send the value of the server's OPENCVM_METRICS_TOKEN as Authorization: Bearer <token>.`,
      { headers: { 'www-authenticate': 'Bearer realm="metrics"' } });
  }

  /** The exposition text: this server's series (the queue read now), then the process's. */
  async render(): Promise<string> {
    await this.readQueue();
    return `${await this.registry.metrics()}\n${await processMetrics().metrics()}`;
  }

  private async readQueue(): Promise<void> {
    let rows;
    try {
      rows = await withTimeout(operationQueue(this.db), QUEUE_READ_TIMEOUT_MS, 'the database');
    } catch {
      // the scrape still answers (process metrics, counters); the queue's gauges say unknown (NaN), not a stale value
      this.dbUp.set(0);
      this.active.reset();
      this.depth.set(Number.NaN);
      this.oldestDue.set(Number.NaN);
      return;
    }
    this.dbUp.set(1);
    this.active.reset();
    for (const kind of OPERATION_KINDS) for (const state of ['pending', 'running']) this.active.set({ kind, state }, 0);
    let due = 0;
    let oldest = 0;
    for (const r of rows) {
      this.active.inc({ kind: kindLabel(r.kind), state: r.state }, r.n);
      due += r.due;
      oldest = Math.max(oldest, r.oldest_due_s ?? 0);
    }
    this.depth.set(due);
    this.oldestDue.set(oldest);
  }

  /** Observe every answer of `app` (its `onResponse` hook): latency by method, route template and status class. */
  observeRequests(app: FastifyInstance): void {
    // a callback hook, not an async one: no promise per request on the hot path
    app.addHook('onResponse', (req, reply, done) => {
      this.httpAnswer(req.method, req.routeOptions?.url, reply.statusCode, reply.elapsedTime / 1000);
      done();
    });
  }

  /** One HTTP answer (also those written outside fastify's routing, e.g. on the socket). */
  httpAnswer(method: string, route: string | undefined, status: number, seconds: number): void {
    const m = METHODS.has(method) ? method : 'OTHER';
    const r = route ?? UNMATCHED_ROUTE;
    const c = `${Math.floor(status / 100)}xx`;
    // the labelled series of each (method, route, class), looked up once: its set is bounded by the routes
    const key = `${m} ${r} ${c}`;
    let series = this.httpSeries.get(key);
    if (!series) this.httpSeries.set(key, (series = this.http.labels({ method: m, route: r, status_class: c })));
    series.observe(seconds);
  }

  /** A run of an operation ended; `queuedAt` is when it was queued (a finished one's duration counts from there). */
  operationRun(kind: string, outcome: RunOutcome, queuedAt: Date): void {
    const k = kindLabel(kind);
    this.runs.inc({ kind: k, outcome });
    if (outcome === 'succeeded' || outcome === 'failed') {
      this.opDuration.observe({ kind: k, outcome }, Math.max(0, (Date.now() - queuedAt.getTime()) / 1000));
    }
  }

  /** A host call of `node` ended (with `error` if it failed). */
  hostCall(node: string, method: string, seconds: number, error?: HostError): void {
    this.hostCalls.observe({ node, method }, seconds);
    if (error) this.hostErrors.inc({ node, method, reason: error.reachable ? 'error' : 'unreachable' });
  }

  /** The KMS answered a guest's `GetAppKey`. */
  keyRelease(outcome: 'released' | 'refused'): void {
    this.kms.inc({ outcome });
  }
}

const kindLabel = (kind: string) => (KINDS.has(kind) ? kind : 'other');
