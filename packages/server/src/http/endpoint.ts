/**
 * How an endpoint of the contract becomes a route. `route(endpoint, handler)` declares the server side of
 * one endpoint; `registerRoutes` registers them all. Before a handler runs, the route:
 * 0. takes one request from the caller's rate limits (`http/rate-limit.ts`): per client address, before any
 *    credential is read, where the contract's `rateLimitsOf` says so; per API key on mutations, right after 1. → 429;
 * 1. authenticates the caller (an `X-API-Key`; the admin API's `X-Admin-Key`) unless the contract says otherwise → 401;
 *    a key's user's current role in its workspace must reach the endpoint's (`roleNeeded`) → 403 `ERR-06-401`;
 * 2. reads the API version (`X-Phala-Version`);
 * 3. refuses text the API does not accept (NUL, unpaired surrogates) anywhere in the path, query or body → 422
 *    naming the field;
 * 4. parses path parameters, query, the headers it reads and the body into typed values → 422 `ERR-02-008`
 *    naming each field;
 * 5. resolves `{id}` into the caller's CVM where the contract says `resolve: 'cvm'` → 404 `ERR-03-001`.
 * The handler gets typed input and resolved records, and answers the contract's success shape; the route
 * sends it with the contract's status.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  ApiError,
  ErrorCodes,
  apiVersionOf,
  findUnacceptableText,
  notFound,
  normalizeAppId,
  parseCvmRef,
  roleNeeded,
  roleRank,
  rateLimitsOf,
  validationError,
  type AppRecord,
  type ApiVersion,
  type CvmView,
  type Endpoint,
  type Versioned,
  type z,
} from '@opencvm/core';
import type { Principal } from '../services/auth.ts';
import { findApp } from '../store/apps.ts';
import { findCvm } from '../store/cvms.ts';
import type { Services } from './context.ts';
import { limitApiKey, limitClientAddress } from './rate-limit.ts';

type Out<S> = S extends z.ZodType ? z.output<S> : undefined;
type In<S> = S extends z.ZodType ? z.input<S> : never;
type JsonAnswer<B> = B extends Versioned ? { [K in keyof B['versioned']]-?: In<NonNullable<B['versioned'][K]>> }[keyof B['versioned']] : In<B>;

/** A handler that wrote the answer itself (a stream): the route sends nothing more. */
export const STREAMED: unique symbol = Symbol('streamed');

export type AnswerOf<E extends Endpoint> =
  | (E['success']['json'] extends object ? JsonAnswer<E['success']['json']> : never)
  | (E['success']['media'] extends readonly unknown[] ? string | Buffer : never)
  // 204: no body
  | (E['success']['status'] extends 204 ? void : never)
  | typeof STREAMED;

type BodyOf<E extends Endpoint> = E['body'] extends { json: infer J }
  ? Out<J>
  : E['body'] extends { text: object }
    ? string
    : undefined;

export interface Input<E extends Endpoint> {
  req: FastifyRequest;
  reply: FastifyReply;
  services: Services;
  principal: E['auth'] extends 'apiKey' ? Principal : undefined;
  version: ApiVersion;
  params: Out<E['params']>;
  query: Out<E['query']>;
  headers: Out<E['headers']>;
  body: BodyOf<E>;
  /** the CVM `{id}` names, in the caller's workspace (endpoints with `resolve: 'cvm'`) */
  cvm: E['resolve'] extends 'cvm' ? CvmView : undefined;
  /** the app `{app_id}` names, in the caller's workspace (endpoints with `resolve: 'app'`) */
  app: E['resolve'] extends 'app' ? AppRecord : undefined;
}

export interface Route<E extends Endpoint = Endpoint> {
  endpoint: E;
  handler: (input: Input<E>) => Promise<AnswerOf<E>>;
}

/** The server side of one endpoint. */
export const route = <E extends Endpoint>(endpoint: E, handler: (input: Input<E>) => Promise<AnswerOf<E>>): Route<E> => ({
  endpoint,
  handler,
});

/** `/api/v1/cvms/{id}` → `/api/v1/cvms/:id` */
export const fastifyPath = (path: string) => path.replace(/\{([^}]+)\}/g, ':$1');

function refuseText(where: string, value: unknown): void {
  const found = findUnacceptableText(value);
  if (!found) return;
  const field = found.path || where;
  throw new ApiError(422, ErrorCodes.INVALID_REQUEST, `${field}: ${found.problem}.`, {
    details: [{ field, message: found.problem }],
  });
}

function parse<S extends z.ZodType>(schema: S | undefined, value: unknown): z.output<S> | undefined {
  if (!schema) return undefined;
  const r = schema.safeParse(value);
  if (!r.success) throw validationError(r.error);
  return r.data;
}

function textBody(e: Endpoint, body: unknown): string {
  if (typeof body === 'string') return body;
  if (body === undefined || body === null) {
    if (e.body?.optional) return '';
    throw new ApiError(422, ErrorCodes.INVALID_REQUEST, `The request body is required: send ${e.body!.text!.description} as the raw body (Content-Type ${e.body!.text!.types[0]}).`);
  }
  throw new ApiError(400, ErrorCodes.INVALID_REQUEST,
    `Send ${e.body!.text!.description} as the raw request body (Content-Type ${e.body!.text!.types.join(' or ')}), not as JSON.`);
}

/** Register every route on `app` (paths are absolute: the contract's paths include `/api/v1`). */
export function registerRoutes(app: FastifyInstance, services: Services, routes: readonly Route[]): void {
  for (const { endpoint: e, handler } of routes) {
    const limited = rateLimitsOf(e);
    app.route({
      method: e.method,
      url: fastifyPath(e.path),
      handler: async (req, reply) => {
        if (limited.clientIp) limitClientAddress(services.limits, req.ip);
        const principal = e.auth === 'apiKey' ? await services.auth.authenticate(header(req, 'x-api-key')) : undefined;
        if (principal) authorizeRole(e, principal);
        if (limited.apiKey) limitApiKey(services.limits, principal!.apiKeyId);
        if (e.auth === 'adminKey') services.adminKey.authorize(header(req, 'x-admin-key'));
        const version = apiVersionOf(req.headers['x-phala-version']);
        if (/^\s*multipart\/form-data/i.test(header(req, 'content-type') ?? '') && !e.body?.multipart) {
          throw new ApiError(415, ErrorCodes.INVALID_REQUEST, `${e.method} ${e.path} does not take a multipart form: send ${e.body?.text ? e.body.text.types[0] : 'JSON (application/json)'}.`);
        }
        const { params, query, headers, body } = withInvalidStatus(e, () => {
          refuseText('path', req.params);
          refuseText('query', req.query);
          refuseText('body', req.body);
          return {
            params: parse(e.params, req.params),
            query: parse(e.query, req.query ?? {}),
            headers: parse(e.headers, req.headers),
            body: e.body?.json
              ? parse(e.body.json, jsonBody(e, typeof req.body === 'string' && !jsonTyped(req) ? jsonOfText(req.body) : req.body))
              : e.body?.text
                ? textBody(e, req.body)
                : undefined,
          };
        });
        let cvm: CvmView | undefined;
        if (e.resolve === 'cvm') {
          const id = (params as { id: string }).id;
          cvm = (await findCvm(services.db, principal!.workspaceId, parseCvmRef(id))) ?? undefined;
          if (!cvm) {
            throw notFound(ErrorCodes.CVM_NOT_FOUND, `CVM "${id}" was not found in this workspace: check the id, name, app_<app_id> or vm_uuid.`);
          }
        }
        let app: AppRecord | undefined;
        if (e.resolve === 'app') {
          const raw = (params as { app_id: string }).app_id;
          const appId = normalizeAppId(raw);
          app = appId ? ((await findApp(services.db, principal!.workspaceId, appId)) ?? undefined) : undefined;
          if (!app) {
            throw notFound(
              ErrorCodes.CVM_NOT_FOUND,
              appId
                ? `App "${raw}" was not found in this workspace: list your apps with GET /apps.`
                : `"${raw}" is not an app id: use the 40 hex characters of app_id (an app_ or 0x prefix is fine).`,
            );
          }
        }
        const answer = await handler({ req, reply, services, principal, version, params, query, headers, body, cvm, app } as Input<Endpoint>);
        if (answer === STREAMED) return reply;
        return reply.status(e.success.status).send(answer);
      },
    });
  }
}

/**
 * The caller's role in the workspace (its key's user's, as it is now) must reach the endpoint's (`roleNeeded`):
 * 403 `ERR-06-401` before anything is read or changed.
 */
function authorizeRole(e: Endpoint, p: Principal): void {
  const needed = roleNeeded(e);
  if (roleRank(p.memberRole) >= roleRank(needed)) return;
  throw new ApiError(
    403,
    ErrorCodes.ROLE_FORBIDDEN,
    `${e.method} ${e.path} needs the ${needed.toUpperCase()} role (or higher) in workspace "${p.workspaceSlug}"; your role there is ${p.memberRole.toUpperCase()}. Ask an owner or admin of the workspace to change your role.`,
  );
}

/** Run the input checks; a 422 becomes the endpoint's `invalidRequestStatus` where it declares one. */
function withInvalidStatus<T>(e: Endpoint, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (e.invalidRequestStatus && err instanceof ApiError && err.status === 422) {
      throw new ApiError(e.invalidRequestStatus, err.code, err.message, { details: err.details, suggestions: err.suggestions, headers: err.headers });
    }
    throw err;
  }
}

/**
 * The JSON body to parse: a request without one, to an endpoint whose body is optional, is the empty object
 * (what the document promises: the body may be left out), unless the endpoint's schema takes no body itself.
 */
function jsonBody(e: Endpoint, body: unknown): unknown {
  if (body !== undefined || !e.body?.optional || e.body.json!.safeParse(undefined).success) return body;
  return {};
}

/**
 * Whether the body came through the JSON parser. A JSON string sent as `application/json` is a string, not a
 * document to parse again: `""` is not "no body", `"{\"force\":true}"` is not `{force: true}`.
 */
const jsonTyped = (req: FastifyRequest) => /^\s*application\/json\s*(;|$)/i.test(header(req, 'content-type') ?? '');

/** A JSON endpoint that got a text body (e.g. `Content-Type: text/plain`): it must still be JSON. */
function jsonOfText(text: string): unknown {
  if (!text.trim()) return undefined;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ApiError(400, ErrorCodes.INVALID_REQUEST, `The request body is not valid JSON: ${(err as Error).message}`);
  }
}

export function header(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name];
  return (Array.isArray(v) ? v[0] : v)?.trim() || undefined;
}
