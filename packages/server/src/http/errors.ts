/**
 * One error envelope for every failure (DESIGN §Conventions): `{"detail": {error_code, message, ...}}`.
 * A 5xx is a bug: it is logged with its stack and answered without internals.
 */
import type { FastifyError, FastifyInstance } from 'fastify';
import { ApiError, ErrorCodes } from '@opencvm/core';

export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError | ApiError | Error, req, reply) => {
    if (err instanceof ApiError) {
      return reply.status(err.status).headers(err.headers).send(err.toEnvelope());
    }
    const fe = err as FastifyError;
    if (fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      return reply.status(415).send(
        new ApiError(415, ErrorCodes.INVALID_REQUEST, `Content-Type ${req.headers['content-type']} is not accepted here: send application/json.`).toEnvelope(),
      );
    }
    if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return reply.status(413).send(new ApiError(413, ErrorCodes.INVALID_REQUEST, 'The request body is too large (limit 1 MiB).').toEnvelope());
    }
    if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) {
      return reply.status(fe.statusCode).send(new ApiError(fe.statusCode, ErrorCodes.INVALID_REQUEST, fe.message).toEnvelope());
    }
    req.log.error({ err }, 'unhandled error');
    return reply.status(500).send(
      new ApiError(500, ErrorCodes.INTERNAL_ERROR, 'Internal error: this is a bug in opencvm; the server log has the details.').toEnvelope(),
    );
  });

  app.setNotFoundHandler((req, reply) => {
    reply.status(404).send(
      new ApiError(404, ErrorCodes.ROUTE_NOT_FOUND, `No route ${req.method} ${req.url.split('?')[0]}: see the API reference in README.md.`).toEnvelope(),
    );
  });
}

/**
 * The official SDK sends `Content-Type: application/json` even on GET and body-less POST, so an
 * empty JSON body means "no body"; anything else must parse.
 */
export function installBodyParsers(app: FastifyInstance): void {
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: 1024 * 1024 }, (_req, body, done) => {
    const text = (body as string).trim();
    if (!text) return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch (e) {
      done(new ApiError(400, ErrorCodes.INVALID_REQUEST, `The request body is not valid JSON: ${(e as Error).message}`), undefined);
    }
  });
  app.removeContentTypeParser('text/plain');
  for (const type of ['text/plain', 'text/yaml', 'application/yaml', 'application/x-yaml']) {
    app.addContentTypeParser(type, { parseAs: 'string', bodyLimit: 1024 * 1024 }, (_req, body, done) => done(null, body));
  }
}
