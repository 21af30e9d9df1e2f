/**
 * How an endpoint is declared: one object per endpoint, from which the server registers its route,
 * OpenAPI is generated, the SDK takes its types and the tests check every answer.
 */
import type { z } from 'zod';
import { API_VERSIONS, type ApiVersion } from './api-version.ts';
import { ErrorCodes, type ErrorCode } from './errors.ts';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/**
 * Who may call it:
 * - `apiKey`: an `X-API-Key` of a workspace (401 otherwise); everything it reads or changes is that workspace's;
 * - `public`: anyone (health, the API reference);
 * - `logToken`: the signed token in the URL (the log URLs the API hands out);
 * - `hostToken`: a registered host's KMS credential (`Authorization: Bearer`), as its guests present it;
 * - `metricsToken`: anyone, unless the server was given a metrics token (`OPENCVM_METRICS_TOKEN`): then that
 *   token as `Authorization: Bearer` (401 `ERR-06-103` otherwise);
 * - `adminKey`: the server's admin key (`OPENCVM_ADMIN_KEY`) as `X-Admin-Key` (401 `ERR-06-104` otherwise; 403
 *   `ERR-06-105` when the server has none). A workspace API key is never an admin key.
 */
/**
 * A member's role in a workspace, lowest first. OWNER, ADMIN and MEMBER are Phala Cloud's (its member API
 * answers them in capitals); `viewer`, a read-only member, is opencvm's.
 */
export const ROLES = ['viewer', 'member', 'admin', 'owner'] as const;
export type Role = (typeof ROLES)[number];
export const roleRank = (r: Role): number => ROLES.indexOf(r);

/**
 * The role an `apiKey` endpoint needs: its declared `role`, else by method: a read (GET) any member
 * (`viewer`), anything else `member`.
 */
export const roleNeeded = (e: Pick<Endpoint, 'method' | 'role'>): Role => e.role ?? (e.method === 'GET' ? 'viewer' : 'member');

export type Auth = 'apiKey' | 'public' | 'logToken' | 'hostToken' | 'metricsToken' | 'adminKey';

/**
 * A JSON body whose shape depends on `X-Phala-Version`: one per version where it changed; a version not listed
 * answers the shape of the newest listed version before it (`jsonBodyFor`).
 */
export interface Versioned<
  V2025 extends z.ZodType = z.ZodType,
  V2026 extends z.ZodType = z.ZodType,
  V202605 extends z.ZodType = z.ZodType,
  V202606 extends z.ZodType = z.ZodType,
> {
  versioned: { '2025-10-28': V2025; '2026-01-21': V2026; '2026-05-22'?: V202605; '2026-06-23'?: V202606 };
}
export type JsonBody = z.ZodType | Versioned;

export interface SuccessResponse {
  status: 200 | 201 | 202 | 204;
  description: string;
  /** a JSON body (or one per API version) */
  json?: JsonBody;
  /** non-JSON media types the answer may have instead (text/yaml, text/event-stream, ...) */
  media?: { type: string; description: string }[];
}

export interface RequestBody {
  /** a JSON body (`application/json`); an empty body is read as `undefined` */
  json?: z.ZodType;
  /** a raw text body and the media types it may come as */
  text?: { types: string[]; description: string };
  /** the same fields may also come as a `multipart/form-data` form (a file part's bytes arrive as hex) */
  multipart?: boolean;
  /** whether the body may be left out */
  optional?: boolean;
}

export interface Endpoint {
  /** OpenAPI operationId; the server's file for it is named after it (kebab-case) */
  id: string;
  method: HttpMethod;
  /** OpenAPI form, from the server's root: `/api/v1/cvms/{id}` */
  path: string;
  summary: string;
  description?: string;
  tag: string;
  auth: Auth;
  /**
   * `cvm`: `{id}` names a CVM of the caller's workspace (name, vm_uuid with or without dashes, `app_<app_id>`,
   * instance id, numeric id); `app`: `{app_id}` names an app of the caller's workspace (40 hex, an `app_` or
   * `0x` prefix accepted). The route answers 404 `ERR-03-001` before the handler otherwise.
   */
  resolve?: 'cvm' | 'app';
  /**
   * `apiKey` endpoints: the lowest role in the workspace that may call it (default: `roleNeeded`). A key acts with
   * its user's current role; below it, 403 `ERR-06-401` before anything is read or changed.
   */
  role?: Role;
  params?: z.ZodObject;
  query?: z.ZodType;
  /** request headers the endpoint reads (lowercase names) */
  headers?: z.ZodObject;
  body?: RequestBody;
  success: SuccessResponse;
  /** the 4xx answers it can give, by status, with the `ERR-` codes of each (all in the error envelope) */
  errors?: Partial<Record<number, readonly ErrorCode[]>>;
  /**
   * The status of a request whose path, query or body does not parse (422 `ERR-02-008` unless set): 400 where
   * the caller is a program that expects it, as dstack-kms expects of its auth webhook.
   */
  invalidRequestStatus?: 400;
  /** the official `@phala/cloud` SDK's schema for this answer, per API version where it has one (tests check answers with it too) */
  phalaSchema?: string | Partial<Record<ApiVersion, string>>;
  /** not in Phala Cloud's API: opencvm's own */
  extension?: boolean;
  /**
   * `clientIp`: requests are limited per client address (`OPENCVM_RATE_LIMIT_PUBLIC`), before any credential is
   * checked: the surfaces anyone can reach (the guest KMS, the auth webhook, the log URLs, attestation
   * verification). Every endpoint under `/api/v1/attestations/` is limited so without saying it. (Mutations with
   * an API key are limited per key whatever this says: see `rateLimitsOf`.)
   */
  rateLimit?: 'clientIp';
}

/** The paths under which every endpoint is limited per client address, as if it declared `rateLimit: 'clientIp'`. */
export const CLIENT_IP_LIMITED_PREFIXES = ['/api/v1/attestations/'] as const;

/**
 * Which rate limits apply to an endpoint (each 429 `ERR-00-429` with `Retry-After` when exceeded):
 * `clientIp`, per client address, checked before the credentials; `apiKey`, per API key, on a mutation
 * (POST, PUT, PATCH, DELETE) that takes an `X-API-Key`, checked once the key is known.
 */
export function rateLimitsOf(e: Pick<Endpoint, 'method' | 'path' | 'auth' | 'rateLimit'>): { clientIp: boolean; apiKey: boolean } {
  return {
    clientIp: e.rateLimit === 'clientIp' || CLIENT_IP_LIMITED_PREFIXES.some((p) => e.path.startsWith(p)),
    apiKey: e.auth === 'apiKey' && e.method !== 'GET',
  };
}

export const defineEndpoint = <const E extends Endpoint>(e: E): E => e;

/**
 * The 4xx answers every endpoint of a kind can give, on top of its own: a malformed request (400/413/415/422
 * `ERR-02-008`), a missing or wrong API key (or metrics token), a CVM that is not the caller's, a rate limit.
 */
export function errorsOf(e: Endpoint): Map<number, Set<ErrorCode>> {
  const out = new Map<number, Set<ErrorCode>>();
  const add = (status: number, ...codes: ErrorCode[]) => {
    const set = out.get(status) ?? new Set<ErrorCode>();
    for (const c of codes) set.add(c);
    out.set(status, set);
  };
  for (const status of [400, 413, 415, 422]) add(status, ErrorCodes.INVALID_REQUEST);
  if (e.auth === 'apiKey') add(401, ErrorCodes.API_KEY_REQUIRED, ErrorCodes.API_KEY_INVALID);
  if (e.auth === 'apiKey' && roleNeeded(e) !== 'viewer') add(403, ErrorCodes.ROLE_FORBIDDEN);
  if (e.auth === 'metricsToken') add(401, ErrorCodes.METRICS_TOKEN_INVALID);
  if (e.auth === 'adminKey') {
    add(401, ErrorCodes.ADMIN_KEY_INVALID);
    add(403, ErrorCodes.ADMIN_API_DISABLED);
  }
  if (e.resolve) add(404, ErrorCodes.CVM_NOT_FOUND);
  const limits = rateLimitsOf(e);
  if (limits.clientIp || limits.apiKey) add(429, ErrorCodes.RATE_LIMITED);
  // the database does not answer (a restart, a network cut): retry later, nothing was changed
  add(503, ErrorCodes.DATABASE_UNAVAILABLE);
  for (const [status, codes] of Object.entries(e.errors ?? {})) add(Number(status), ...(codes ?? []));
  return out;
}

/** The body schema of an answer for an API version. */
export function jsonBodyFor(body: JsonBody | undefined, version: ApiVersion): z.ZodType | undefined {
  if (!body) return undefined;
  if (!('versioned' in body)) return body;
  const declared = API_VERSIONS.filter((v) => v <= version && body.versioned[v]);
  return body.versioned[declared[declared.length - 1]!];
}
