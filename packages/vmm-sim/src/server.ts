/**
 * HTTP plumbing of the simulated dstack-vmm (the routes of dstack's `vmm/src/main_routes.rs`):
 *   POST|GET /prpc/<Method>   service Vmm (legacy prefix `Teepod.` stripped)
 *   POST|GET /guest/<Method>  proxied guest API
 *   GET /logs                 serial / stdout / stderr text streams
 *   /sim/...                  simulator-only: test introspection, the call log, fault injection, restart (not part of dstack-vmm)
 * Auth (optional): Bearer / X-Admin-Token / Basic (password = token) / `?token=` on GET; else 401.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import { SIM_VERSION } from './config.ts';
import { FAULT_KINDS, type Fault, type FaultKind, type FaultSpec, type FaultStage } from './faults.ts';
import type { SimHost } from './host.ts';
import { serveLogs } from './logs.ts';
import { createGuestService, createVmmService, type Handler } from './service.ts';
import { errorMessage, sleep } from './util.ts';
import { encodePrpcError, Fields, parseQueryMessage, RpcError } from './wire.ts';

const BODY_LIMIT = 10 * 1024 * 1024;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > BODY_LIMIT) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('end', () => {
      if (tooLarge) reject(new RpcError(`request body exceeds the limit of ${BODY_LIMIT} bytes`));
      else resolve(Buffer.concat(chunks));
    });
    req.on('error', reject);
  });
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function authorized(req: IncomingMessage, query: URLSearchParams, token: string): boolean {
  const auth = req.headers.authorization ?? '';
  if (auth.startsWith('Bearer ') && sameSecret(auth.slice(7).trim(), token)) return true;
  if (auth.startsWith('Basic ')) {
    const decoded = Buffer.from(auth.slice(6).trim(), 'base64').toString('utf8');
    const password = decoded.includes(':') ? decoded.slice(decoded.indexOf(':') + 1) : decoded;
    if (sameSecret(password, token)) return true;
  }
  const admin = req.headers['x-admin-token'];
  if (typeof admin === 'string' && sameSecret(admin, token)) return true;
  const q = query.get('token');
  if (req.method === 'GET' && q !== null && sameSecret(q, token)) return true;
  return false;
}

function sendJson(res: ServerResponse, status: number, body: unknown, pretty = false): void {
  const text = pretty ? JSON.stringify(body, null, 2) : JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(text);
}

function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' });
  res.end(text);
}

/** The most pRPC calls `GET /sim/calls` keeps (the oldest go first). */
const CALL_LOG_LIMIT = 100_000;

/** One pRPC call as `GET /sim/calls` reports it. */
interface CallRecord {
  method: string;
  /** the message's `name` (CreateVm) or `id` (the calls on one VM), if it has one */
  name: string | null;
  /** when its request arrived: epoch ms with sub-ms precision (`performance.timeOrigin + performance.now()`) */
  at_ms: number;
}

export function createSimServer(host: SimHost): Server {
  const vmm = createVmmService(host);
  const guest = createGuestService(host);
  const log = host.config.log;
  const calls: CallRecord[] = [];

  /**
   * Applies the injected latency / hang / drop / 5xx faults for call `key` at `stage`. Returns false when
   * the call ends here (socket destroyed, 5xx sent, or the client went away while held).
   */
  async function gate(req: IncomingMessage, res: ServerResponse, key: string, stage: FaultStage): Promise<boolean> {
    const faults = host.faults;
    const delay = faults.takeLatency(key, stage);
    if (delay > 0) await sleep(delay);
    const hang = faults.take('hang', key, stage);
    if (hang) {
      log(`${key}: held by fault ${hang.id}`);
      await faults.hold(hang);
    }
    if (res.destroyed || req.socket.destroyed) return false;
    if (faults.take('drop', key, stage)) {
      log(`${key}: connection dropped by an injected fault`);
      req.socket.destroy();
      return false;
    }
    const status = faults.take('status', key, stage);
    if (status) {
      sendText(res, status.status ?? 500, `${status.error ?? `vmm-sim: injected HTTP ${status.status ?? 500}`}\n`);
      req.resume();
      return false;
    }
    return true;
  }

  /** Runs one pRPC call: decode (JSON mode only), fault injection, handler, encode. */
  async function prpc(
    req: IncomingMessage,
    res: ServerResponse,
    query: URLSearchParams,
    methods: Record<string, Handler>,
    method: string,
    faultKey: string,
  ): Promise<void> {
    const arrived = performance.timeOrigin + performance.now();
    const contentType = String(req.headers['content-type'] ?? '');
    const jsonMode = query.has('json') || contentType.startsWith('application/json') || req.method === 'GET';
    const fail = (message: string): void => {
      if (jsonMode) sendJson(res, 400, { error: message }, true);
      else {
        res.writeHead(400, { 'Content-Type': 'application/octet-stream' });
        res.end(encodePrpcError(message));
      }
    };
    try {
      if (!(await gate(req, res, faultKey, 'before'))) return;
      if (req.method !== 'GET' && req.method !== 'POST') throw new HttpError(405, 'method not allowed');
      const body = req.method === 'POST' ? await readBody(req) : Buffer.alloc(0);
      if (!jsonMode) {
        throw new RpcError('vmm-sim speaks pRPC in JSON mode only: add ?json or send Content-Type: application/json');
      }
      const handler = Object.hasOwn(methods, method) ? methods[method] : undefined;
      if (!handler) throw new RpcError(`Method not found: ${method}`);
      let message: unknown;
      if (req.method === 'GET') message = parseQueryMessage(query);
      else if (body.length === 0) message = {};
      else {
        try {
          message = JSON.parse(body.toString('utf8'));
        } catch (err) {
          throw new RpcError(`failed to decode request: ${errorMessage(err)}`);
        }
      }
      const m = (message ?? {}) as { name?: unknown; id?: unknown };
      calls.push({ method: faultKey, name: typeof m.name === 'string' ? m.name : typeof m.id === 'string' ? m.id : null, at_ms: arrived });
      if (calls.length > CALL_LOG_LIMIT) calls.splice(0, calls.length - CALL_LOG_LIMIT);
      const fields = new Fields(message);
      const fault = host.takeFault(faultKey);
      if (fault !== undefined) throw new RpcError(fault);
      const result = await handler(fields);
      if (!(await gate(req, res, faultKey, 'after'))) return;
      const late = host.faults.take('error', faultKey, 'after');
      if (late) throw new RpcError(late.error ?? 'injected fault');
      sendJson(res, 200, result ?? {});
    } catch (err) {
      if (err instanceof HttpError) return sendText(res, err.status, `${err.message}\n`);
      if (!(err instanceof RpcError)) log(`${faultKey}: unexpected error: ${(err as Error)?.stack ?? err}`);
      fail(errorMessage(err));
    }
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://vmm-sim');
    const query = url.searchParams;
    const path = url.pathname;
    res.setHeader('X-App-Version', SIM_VERSION);
    res.setHeader('X-Accel-Buffering', 'no');

    const token = host.config.authToken;
    if (token && !authorized(req, query, token)) {
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="dstack-vmm API"', 'Content-Type': 'text/plain' });
      res.end('Unauthorized\n');
      req.resume();
      return;
    }

    if (path.startsWith('/prpc/')) {
      const method = decodeURIComponent(path.slice('/prpc/'.length)).replace(/^Teepod\./, '');
      return prpc(req, res, query, vmm, method, method);
    }
    if (path.startsWith('/guest/')) {
      const method = decodeURIComponent(path.slice('/guest/'.length));
      return prpc(req, res, query, guest, method, `guest.${method}`);
    }
    if (path === '/logs') {
      if (!(await gate(req, res, 'logs', 'before'))) return;
      if (req.method !== 'GET') return sendText(res, 405, 'method not allowed\n');
      const vm = host.vms.get(query.get('id') ?? '');
      if (!vm) return sendText(res, 404, 'VM not found\n');
      return serveLogs(req, res, query, vm.logs, vm.processRunning);
    }
    if (path === '/sim/vms' && req.method === 'GET') {
      return sendJson(res, 200, host.sortedVms().map((vm) => vm.toView()));
    }
    if (path.startsWith('/sim/vms/') && req.method === 'GET') {
      const vm = host.vms.get(decodeURIComponent(path.slice('/sim/vms/'.length)));
      return vm ? sendJson(res, 200, vm.toView()) : sendJson(res, 404, { error: 'vm not found' });
    }
    if (path === '/sim/calls' && (req.method === 'GET' || req.method === 'DELETE')) {
      const method = query.get('method');
      if (req.method === 'DELETE') return sendJson(res, 200, { cleared: calls.splice(0).length });
      return sendJson(res, 200, { calls: method ? calls.filter((c) => c.method === method) : calls });
    }
    if (path === '/sim/faults' || path.startsWith('/sim/faults/') || path === '/sim/restart' || path === '/sim/host') {
      return control(req, res, path, query);
    }
    if (path === '/' || path === '/v1' || path === '/beta') {
      return sendText(res, 200, `dstack-vmm simulator ${SIM_VERSION} (${host.config.name})\n`);
    }
    sendText(res, 404, 'Not Found\n');
  }

  /** The simulator's control API (README: "Control API"). */
  async function control(req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams): Promise<void> {
    const readJson = async (): Promise<Record<string, unknown>> => {
      const text = (await readBody(req)).toString('utf8');
      const parsed: unknown = JSON.parse(text || '{}');
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('expected a JSON object');
      return parsed as Record<string, unknown>;
    };
    const bad = (message: string): void => sendJson(res, 400, { error: message });
    const cfg = host.config;
    if (path === '/sim/host' && req.method === 'GET') {
      return sendJson(res, 200, {
        name: cfg.name,
        region: cfg.region,
        device_id: cfg.deviceId,
        resources: {
          slots: cfg.resources.maxCvms,
          vcpu: cfg.resources.maxVcpu,
          memory_mb: cfg.resources.maxMemoryMb,
          disk_gb: cfg.resources.maxDiskGb,
        },
        vms: host.vms.size,
      });
    }
    if (path === '/sim/restart' && req.method === 'POST') {
      let body: Record<string, unknown>;
      try {
        body = await readJson();
      } catch (err) {
        return bad(`invalid JSON: ${errorMessage(err)}`);
      }
      const vms = body.vms ?? 'wipe';
      if (vms !== 'wipe' && vms !== 'stopped' && vms !== 'reboot') {
        return bad('"vms" must be "wipe" (default), "stopped" or "reboot"');
      }
      return sendJson(res, 200, { vms_before: host.restart(vms), vms_after: host.vms.size });
    }
    if (path === '/sim/faults' && req.method === 'GET') {
      return sendJson(res, 200, { faults: host.faults.list().map(faultJson), held: host.faults.heldCount() });
    }
    if (path === '/sim/faults' && req.method === 'DELETE') {
      const method = query.get('method');
      const kind = query.get('kind');
      const cleared = host.faults.clear(
        (f) => (method === null || f.method === method.replace(/^Teepod\./, '')) && (kind === null || f.kind === kind),
      );
      return sendJson(res, 200, { cleared });
    }
    if (path.startsWith('/sim/faults/') && req.method === 'DELETE') {
      const id = Number(path.slice('/sim/faults/'.length));
      const cleared = host.faults.clear((f) => f.id === id);
      return cleared ? sendJson(res, 200, { cleared }) : sendJson(res, 404, { error: `no fault ${id}` });
    }
    if (path === '/sim/faults' && req.method === 'POST') {
      let body: Record<string, unknown>;
      try {
        body = await readJson();
      } catch (err) {
        return bad(`invalid JSON: ${errorMessage(err)}`);
      }
      if (body.kind === undefined) {
        // The original form: {method, error, times?}: the next `times` (default 1) calls fail with that error.
        if (typeof body.method !== 'string' || typeof body.error !== 'string') {
          return bad('expected {"method": string, "error": string, "times"?: number} or {"kind": ...}');
        }
        host.injectFault({ method: body.method, error: body.error, times: typeof body.times === 'number' ? body.times : undefined });
        return sendJson(res, 200, {});
      }
      const spec = parseFaultSpec(body);
      if (typeof spec === 'string') return bad(spec);
      return sendJson(res, 200, faultJson(host.faults.add(spec)));
    }
    sendText(res, 404, 'Not Found\n');
  }

  return createServer((req, res) => {
    route(req, res).catch((err) => {
      log(`http: unexpected error: ${(err as Error)?.stack ?? err}`);
      if (!res.headersSent) sendJson(res, 500, { error: errorMessage(err) });
      else res.end();
    });
  });
}

function faultJson(f: Fault): Record<string, unknown> {
  return { id: f.id, kind: f.kind, method: f.method, error: f.error, ms: f.ms, status: f.status, remaining: f.remaining, after: f.stage === 'after' };
}

/** Validates a `POST /sim/faults` body with `kind`; returns the spec or what is wrong with it. */
export function parseFaultSpec(body: Record<string, unknown>): FaultSpec | string {
  const known = new Set(['kind', 'method', 'error', 'ms', 'status', 'times', 'after']);
  const extra = Object.keys(body).find((k) => !known.has(k));
  if (extra !== undefined) return `unknown field "${extra}"`;
  const kind = body.kind as FaultKind;
  if (!FAULT_KINDS.includes(kind)) return `"kind" must be one of ${FAULT_KINDS.join(', ')}`;
  const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;
  if (body.method !== undefined && (typeof body.method !== 'string' || body.method === '')) {
    return '"method" must be a non-empty string (a pRPC method, guest.<Method>, logs or boot)';
  }
  if (body.times !== undefined && (!isCount(body.times) || body.times === 0)) return '"times" must be a positive integer';
  if (body.after !== undefined && typeof body.after !== 'boolean') return '"after" must be a boolean';
  if (body.error !== undefined && typeof body.error !== 'string') return '"error" must be a string';
  if (kind === 'error' && typeof body.error !== 'string') return 'kind "error" needs "error": the message the call fails with';
  if (kind !== 'error' && kind !== 'hang' && body.method === 'boot') return 'method "boot" takes kind "error" or "hang" only';
  if (kind === 'latency' && !isCount(body.ms)) return 'kind "latency" needs "ms": a non-negative integer';
  if (kind !== 'latency' && body.ms !== undefined) return '"ms" belongs to kind "latency"';
  if (body.status !== undefined && (kind !== 'status' || !isCount(body.status) || body.status < 500 || body.status > 599)) {
    return '"status" belongs to kind "status" and must be 500..599';
  }
  return {
    kind,
    method: body.method as string | undefined,
    error: body.error as string | undefined,
    ms: body.ms as number | undefined,
    status: body.status as number | undefined,
    times: body.times as number | undefined,
    after: body.after as boolean | undefined,
  };
}
