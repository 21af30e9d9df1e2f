/**
 * One error envelope for every failure: `{"detail": {error_code, message, details, suggestions, links}, …}` (the
 * same fields again at the top level, see the contract's `errorEnvelopeSchema`),
 * including the errors raised before a handler runs — by fastify (a malformed percent-encoding, an overlong
 * path parameter, a body that is not JSON), by Node's HTTP parser (raw control bytes in the path, headers over
 * 16 KB), or by the router (no such route, a method the path does not have). A 5xx is a bug: it is logged with
 * its stack and answered without internals. Each carries the request's id (`detail.request_id` and the
 * `X-Request-Id` header), an answer on the socket a new one, which its log line carries too.
 */
import type { Socket } from 'node:net';
import { parseMultipart } from './multipart.ts';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, FastifyServerOptions } from 'fastify';
import { ApiError, ErrorCodes, endpoints, type ErrorEnvelope } from '@opencvm/core';
import { isDatabaseUnavailable } from '../db/postgres.ts';
import { REQUEST_ID_HEADER, requestIdOf } from './request-id.ts';

const GUEST_KMS = '/kms/prpc/';

/** The body of an error answer; guests of the KMS also get dstack's pRPC `{"error"}` beside the envelope. */
function body(req: FastifyRequest | undefined, e: ApiError): ErrorEnvelope | (ErrorEnvelope & { error: string }) {
  const envelope = e.toEnvelope(req?.id);
  return req?.url.startsWith(GUEST_KMS) ? { ...envelope, error: e.message } : envelope;
}

/** Fastify's own errors with a 4xx status, in words a user can act on. */
function frameworkError(err: FastifyError, req: FastifyRequest): ApiError {
  switch (err.code) {
    case 'FST_ERR_BAD_URL':
      return new ApiError(400, ErrorCodes.INVALID_REQUEST, 'The URL is not valid: a "%" must start a percent-encoded byte (%XX, two hex digits). Encode a literal "%" as %25.');
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new ApiError(414, ErrorCodes.INVALID_REQUEST, `A path parameter is longer than ${MAX_PARAM_LENGTH} characters: no identifier of this API is that long.`);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ApiError(415, ErrorCodes.INVALID_REQUEST, `Content-Type ${req.headers['content-type']} is not accepted here: send application/json (or the text type the endpoint documents).`);
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ApiError(413, ErrorCodes.INVALID_REQUEST, 'The request body is too large (limit 1 MiB).');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new ApiError(400, ErrorCodes.INVALID_REQUEST, 'The request body does not match its Content-Length.');
    default:
      return new ApiError(err.statusCode!, ErrorCodes.INVALID_REQUEST, `The request was refused: ${err.message}`);
  }
}

/** Longer path parameters are refused by the router (414); up to this, the endpoint's own limit answers (422). */
export const MAX_PARAM_LENGTH = 1000;

/** Told of each answer given before routing, where no `onResponse` hook runs (the server's metrics). */
export type EarlyAnswerObserver = (method: string, status: number, seconds: number) => void;

/**
 * Options of the fastify instance that route errors raised before a route runs into the envelope.
 * `observe` is told of each answer given there: fastify's own (its hooks do not run) and the socket's.
 */
export function errorHandlingOptions(observe?: EarlyAnswerObserver): Pick<FastifyServerOptions, 'routerOptions' | 'frameworkErrors' | 'clientErrorHandler'> {
  return {
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    frameworkErrors(err, req, reply) {
      const e = err.statusCode && err.statusCode < 500 ? frameworkError(err as FastifyError, req) : new ApiError(400, ErrorCodes.INVALID_REQUEST, err.message);
      // no hook runs for this request: the id header, the completion line and the metrics are done here
      // (fastify keeps no start time for such a request: the time counts from here)
      const started = performance.now();
      reply.raw.once('finish', () => {
        const ms = performance.now() - started;
        req.log.info({ res: reply, responseTime: ms }, 'request completed');
        observe?.(req.method, e.status, ms / 1000);
      });
      void (reply as FastifyReply).status(e.status).header(REQUEST_ID_HEADER, req.id).send(body(req, e));
    },
    /** Node's HTTP parser refused the request (no route ran): answer on the socket, in the envelope, with a new request id. */
    clientErrorHandler(this: FastifyInstance, err: Error & { code?: string }, socket: Socket) {
      if (!socket.writable) return socket.destroy();
      const e =
        err.code === 'HPE_HEADER_OVERFLOW'
          ? new ApiError(431, ErrorCodes.INVALID_REQUEST, 'The request headers are too large (limit 16 KB): send fewer or shorter headers.')
          : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
            ? new ApiError(408, ErrorCodes.INVALID_REQUEST, 'The request took too long to arrive.')
            : new ApiError(400, ErrorCodes.INVALID_REQUEST,
                'The request is not valid HTTP: its request line or headers contain characters HTTP does not allow (percent-encode control and non-ASCII bytes in the path).');
      const requestId = requestIdOf(undefined);
      this.log.info({ request_id: requestId, code: err.code, status: e.status }, 'request refused by the HTTP parser');
      const text = JSON.stringify(e.toEnvelope(requestId));
      socket.end(
        `HTTP/1.1 ${e.status} ${STATUS_TEXT[e.status] ?? 'Bad Request'}\r\nContent-Type: application/json; charset=utf-8\r\n` +
          `X-Request-Id: ${requestId}\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
      );
      observe?.('OTHER', e.status, 0);
    },
  };
}

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 408: 'Request Timeout', 431: 'Request Header Fields Too Large' };

/** Each contract path as a pattern over concrete paths, for a 405 that names the methods a path has. */
const PATHS = endpoints.map((e) => ({
  method: e.method,
  re: new RegExp(`^${e.path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\\?\{[^}]+\\?\}/g, '[^/]+')}$`),
}));

function allowedMethods(path: string): string[] {
  const methods = new Set<string>(PATHS.filter((p) => p.re.test(path)).map((p) => p.method));
  if (methods.has('GET')) methods.add('HEAD');
  return [...methods];
}

/** No route for the method and path: 405 with `Allow` if the path has other methods, else 404. */
function noRoute(req: FastifyRequest, reply: FastifyReply) {
  const path = req.url.split('?')[0];
  const allowed = allowedMethods(path);
  if (allowed.length) {
    return reply
      .status(405)
      .header('allow', allowed.join(', '))
      .send(body(req, new ApiError(405, ErrorCodes.METHOD_NOT_ALLOWED, `${req.method} is not allowed on ${path}: use ${allowed.join(' or ')}.`)));
  }
  return reply
    .status(404)
    .send(body(req, new ApiError(404, ErrorCodes.ROUTE_NOT_FOUND, `No route ${req.method} ${path}: the API reference is at /api/v1/docs (OpenAPI: /api/v1/openapi.json).`)));
}

export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError | ApiError | Error, req, reply) => {
    if (err instanceof ApiError) return reply.status(err.status).headers(err.headers).send(body(req, err));
    const fe = err as FastifyError;
    // a request no route takes (e.g. `QUERY` without a Content-Type) can fail fastify's body parsing on its way
    // to the not-found handler: it is still a 404, or a 405 on a path that has other methods
    if (req.is404 && fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) return noRoute(req, reply);
    if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) {
      const e = frameworkError(fe, req);
      return reply.status(e.status).send(body(req, e));
    }
    if (isDatabaseUnavailable(err)) {
      req.log.warn({ err }, 'the database did not answer');
      return reply
        .status(503)
        .header('retry-after', '5')
        .send(body(req, new ApiError(503, ErrorCodes.DATABASE_UNAVAILABLE,
          'The database does not answer right now, so nothing was read or changed: retry in a few seconds. If it persists, the operator should check PostgreSQL (GET /healthz).')));
    }
    req.log.error({ err }, 'unhandled error');
    return reply
      .status(500)
      .send(body(req, new ApiError(500, ErrorCodes.INTERNAL_ERROR, 'Internal error: this is a bug in opencvm; the server log has the details.')));
  });

  app.setNotFoundHandler(noRoute);

  // HTTP/1.1 requires a Host header; Node answers its absence with an empty 400 unless the server lets it through
  app.addHook('onRequest', (req, _reply, done) => {
    if (req.raw.httpVersion === '1.1' && !req.headers.host) {
      return done(new ApiError(400, ErrorCodes.INVALID_REQUEST, 'The request has no Host header: HTTP/1.1 requires one.'));
    }
    done();
  });
}

/**
 * The official SDK sends `Content-Type: application/json` even on GET and body-less POST, so an
 * empty JSON body means "no body"; anything else must parse.
 */
export function installBodyParsers(app: FastifyInstance): void {
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: 1024 * 1024 }, (_req, text, done) => {
    const trimmed = (text as string).trim();
    if (!trimmed) return done(null, undefined);
    try {
      done(null, JSON.parse(trimmed));
    } catch (e) {
      done(new ApiError(400, ErrorCodes.INVALID_REQUEST, `The request body is not valid JSON: ${(e as Error).message}`), undefined);
    }
  });
  app.addContentTypeParser('multipart/form-data', { parseAs: 'buffer', bodyLimit: 1024 * 1024 }, (req, buf, done) => {
    try {
      done(null, parseMultipart(String(req.headers['content-type'] ?? ''), buf as Buffer));
    } catch (e) {
      done(e as Error, undefined);
    }
  });
  app.removeContentTypeParser('text/plain');
  for (const type of ['text/plain', 'text/yaml', 'application/yaml', 'application/x-yaml']) {
    app.addContentTypeParser(type, { parseAs: 'string', bodyLimit: 1024 * 1024 }, (_req, text, done) => done(null, text));
  }
}
