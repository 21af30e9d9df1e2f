/**
 * Every request has an id: the caller's `X-Request-Id` when it is a sane one (1 to 128 letters, digits and
 * `-_.:`, starting with a letter or digit), otherwise a new UUID; a caller's value that is not sane is
 * replaced, never echoed. The id is the answer's `X-Request-Id` header (every answer, errors included), the
 * error envelope's `detail.request_id`, and the `request_id` field of every log line of the request.
 */
import { randomUUID } from 'node:crypto';
import { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify';

export const REQUEST_ID_HEADER = 'x-request-id';
const SANE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/** The id of a request that sent `header` (its `X-Request-Id`, if any). */
export function requestIdOf(header: string | string[] | undefined): string {
  const value = Array.isArray(header) ? header[0] : header;
  return value !== undefined && SANE.test(value) ? value : randomUUID();
}

/** Fastify's options: ids from `requestIdOf`, logged as `request_id`. */
export function requestIdOptions(): Pick<FastifyServerOptions, 'genReqId' | 'requestIdHeader' | 'logController'> {
  return {
    // fastify would take any header value as it is; requestIdOf takes only a sane one
    requestIdHeader: false,
    genReqId: (req) => requestIdOf(req.headers[REQUEST_ID_HEADER]),
    logController: new LogController({ requestIdLogLabel: 'request_id' }),
  };
}

/**
 * Send each request's id back as `X-Request-Id`. Set on the raw answer at the first hook, so that answers
 * written outside fastify's `send` (an SSE watch, a relayed log) carry it too; register before any hook
 * that may refuse the request.
 */
export function installRequestIds(app: FastifyInstance): void {
  app.addHook('onRequest', (req, reply, done) => {
    reply.raw.setHeader(REQUEST_ID_HEADER, req.id);
    done();
  });
}
