/**
 * HTTP plumbing of the simulated dstack-vmm (the routes of dstack's `vmm/src/main_routes.rs`):
 *   POST|GET /prpc/<Method>   service Vmm (legacy prefix `Teepod.` stripped)
 *   POST|GET /guest/<Method>  proxied guest API
 *   GET /logs                 serial / stdout / stderr text streams
 *   /sim/...                  simulator-only test introspection (not part of dstack-vmm)
 * Auth (optional): Bearer / X-Admin-Token / Basic (password = token) / `?token=` on GET; else 401.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import { SIM_VERSION } from './config.ts';
import type { SimHost } from './host.ts';
import { serveLogs } from './logs.ts';
import { createGuestService, createVmmService, type Handler } from './service.ts';
import { errorMessage } from './util.ts';
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

export function createSimServer(host: SimHost): Server {
  const vmm = createVmmService(host);
  const guest = createGuestService(host);
  const log = host.config.log;

  /** Runs one pRPC call: decode (JSON mode only), fault injection, handler, encode. */
  async function prpc(
    req: IncomingMessage,
    res: ServerResponse,
    query: URLSearchParams,
    methods: Record<string, Handler>,
    method: string,
    faultKey: string,
  ): Promise<void> {
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
      const fields = new Fields(message);
      const fault = host.takeFault(faultKey);
      if (fault !== undefined) throw new RpcError(fault);
      const result = await handler(fields);
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
    if (path === '/sim/faults' && req.method === 'POST') {
      let body: { method?: unknown; error?: unknown; times?: unknown };
      try {
        body = JSON.parse((await readBody(req)).toString('utf8') || '{}');
      } catch (err) {
        return sendJson(res, 400, { error: `invalid JSON: ${errorMessage(err)}` });
      }
      if (typeof body.method !== 'string' || typeof body.error !== 'string') {
        return sendJson(res, 400, { error: 'expected {"method": string, "error": string, "times"?: number}' });
      }
      host.injectFault({
        method: body.method,
        error: body.error,
        times: typeof body.times === 'number' ? body.times : undefined,
      });
      return sendJson(res, 200, {});
    }
    if (path === '/' || path === '/v1' || path === '/beta') {
      return sendText(res, 200, `dstack-vmm simulator ${SIM_VERSION} (${host.config.name})\n`);
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
