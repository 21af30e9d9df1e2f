/**
 * Tests check every answer the server sends against the contract: the endpoint's success shape (strict: no key
 * the contract does not declare, for the API version asked for), or for an error the envelope with a status
 * and an `ERR-` code the endpoint declares. Where the official `@phala/cloud` SDK exports a schema for the
 * answer, it must pass that one too. Only tests do this: production never validates its own answers.
 */
import * as phala from '@phala/cloud';
import type { FastifyInstance } from 'fastify';
import {
  ErrorCodes,
  apiVersionOf,
  endpoints,
  errorEnvelopeSchema,
  errorsOf,
  jsonBodyFor,
  z,
  type ApiVersion,
  type Endpoint,
} from '@opencvm/core';
import { fastifyPath } from '../http/endpoint.ts';

export interface Violation {
  request: string;
  status: number;
  problem: string;
}

const byRoute = new Map(endpoints.map((e) => [`${e.method} ${fastifyPath(e.path)}`, e]));

/** The guest KMS answers dstack's pRPC `{"error"}` beside the envelope. */
const guestEnvelope = errorEnvelopeSchema.extend({ error: z.string() });

/** Errors any request can meet before it reaches an endpoint (no route, wrong method, malformed HTTP). */
const ROUTER_ERRORS = new Map<number, Set<string>>([
  [400, new Set([ErrorCodes.INVALID_REQUEST])],
  [404, new Set([ErrorCodes.ROUTE_NOT_FOUND])],
  [405, new Set([ErrorCodes.METHOD_NOT_ALLOWED])],
  [414, new Set([ErrorCodes.INVALID_REQUEST])],
  [415, new Set([ErrorCodes.INVALID_REQUEST])],
]);

type PhalaSchema = { safeParse(v: unknown): { success: boolean; error?: { issues: unknown[] } } };

function phalaSchemaFor(e: Endpoint, version: ApiVersion): { name: string; schema: PhalaSchema } | null {
  const name = typeof e.phalaSchema === 'string' ? e.phalaSchema : e.phalaSchema?.[version];
  if (!name) return null;
  const schema = (phala as unknown as Record<string, PhalaSchema | undefined>)[name];
  if (!schema?.safeParse) throw new Error(`the contract names @phala/cloud's ${name} for ${e.id}, which the SDK does not export`);
  return { name, schema };
}

const describe = (error: z.ZodError) =>
  error.issues
    .slice(0, 5)
    .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
    .join('; ');

/** What is wrong with one answer, or null. */
export function checkAnswer(
  e: Endpoint | undefined,
  a: { status: number; version: ApiVersion; contentType: string; payload: string; method: string; url?: string },
): string | null {
  const json = /application\/json/i.test(a.contentType);
  let data: unknown;
  if (json && a.payload !== '') {
    try {
      data = JSON.parse(a.payload);
    } catch {
      return 'the body is not JSON although Content-Type says so';
    }
  }
  if (a.status >= 400) {
    if (!json) return `an error answered ${a.contentType || 'no Content-Type'}, not the JSON envelope`;
    if (a.method === 'HEAD') return null; // a HEAD answer carries the envelope's headers, never a body
    // the server adds dstack's pRPC {"error"} to every error under /kms/prpc/, routed or not (a 405 there too)
    const guest = e?.auth === 'hostToken' || (!e && a.url?.startsWith('/kms/prpc/'));
    const r = (guest ? guestEnvelope : errorEnvelopeSchema).safeParse(data);
    if (!r.success) return `the error is not the envelope: ${describe(r.error)}`;
    const code = r.data.detail.error_code;
    const declared = e ? errorsOf(e).get(a.status) : undefined;
    const router = ROUTER_ERRORS.get(a.status);
    if (!declared?.has(code) && !router?.has(code)) {
      return `${a.status} ${code} is not declared for ${e ? e.id : 'a request no endpoint serves'} ("${r.data.detail.message}")`;
    }
    return null;
  }
  if (!e) return `a ${a.status} answer from no endpoint`;
  if (a.status !== e.success.status) return `answered ${a.status}; the contract says ${e.success.status}`;
  if (a.method === 'HEAD') return null;
  if (a.status === 204) return a.payload === '' ? null : 'a 204 answer carries a body';
  if (json) {
    const schema = jsonBodyFor(e.success.json, a.version);
    if (!schema) return 'answered JSON; the contract declares no JSON body';
    const r = schema.safeParse(data);
    if (!r.success) return `the body does not match the contract (${a.version}): ${describe(r.error)}`;
    const official = phalaSchemaFor(e, a.version);
    if (official) {
      const o = official.schema.safeParse(data);
      if (!o.success) return `the body does not pass @phala/cloud's ${official.name}: ${JSON.stringify(o.error?.issues.slice(0, 3))}`;
    }
    return null;
  }
  const media = (e.success.media ?? []).map((m) => m.type);
  if (!media.some((t) => a.contentType.toLowerCase().startsWith(t))) {
    return `answered ${a.contentType || 'no Content-Type'}; the contract says ${media.join(' or ') || 'JSON'}`;
  }
  return null;
}

/** Check every answer `app` sends from now on; violations go to `sink`. */
export function checkAnswers(app: FastifyInstance, sink: (v: Violation) => void): void {
  app.addHook('onSend', async (req, reply, payload) => {
    const url = req.routeOptions.url;
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    const e = url ? byRoute.get(`${method} ${url}`) : undefined;
    const text = typeof payload === 'string' ? payload : Buffer.isBuffer(payload) ? payload.toString('utf8') : payload == null ? '' : null;
    if (text === null) return payload; // a stream: relayed as it comes
    const problem = checkAnswer(e, {
      status: reply.statusCode,
      version: apiVersionOf(req.headers['x-phala-version']),
      contentType: String(reply.getHeader('content-type') ?? ''),
      payload: text,
      method: req.method,
      url: req.url,
    });
    if (problem) sink({ request: `${req.method} ${req.url.replace(/token=[^&]+/, 'token=…')}`, status: reply.statusCode, problem });
    return payload;
  });
}
