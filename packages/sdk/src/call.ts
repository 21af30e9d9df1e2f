/**
 * Calling an endpoint as the contract declares it: the declaration gives the method and the path, and types
 * the path parameters, the body sent and the answer read, so neither a path nor a type of this SDK can drift
 * from the endpoint the server registers. Every call still goes through `client.request`.
 */
import type { ApiVersion, DefaultApiVersion, Endpoint, z } from '@opencvm/contract';
import { OpenCvmError } from './errors.ts';
import type { Client, RequestOptions } from './index.ts';

/** The client's `baseURL` ends in it; the contract's paths start with it. */
const API_PREFIX = '/api/v1';

/** `'/api/v1/apps/{app_id}/revisions/{revision_id}'` → `'app_id' | 'revision_id'` */
type PathParamNames<P extends string> = P extends `${string}{${infer N}}${infer Rest}` ? N | PathParamNames<Rest> : never;

/** The shape declared for version `V`, else for the newest version before it. */
type ShapeAt<M, V extends ApiVersion> = V extends keyof M
  ? NonNullable<M[V]>
  : V extends '2026-06-23'
    ? ShapeAt<M, '2026-05-22'>
    : V extends '2026-05-22'
      ? ShapeAt<M, '2026-01-21'>
      : never;

/** An endpoint's JSON answer, in the shape of API version `V` where it has one per version. */
export type AnswerOf<E extends Endpoint, V extends ApiVersion = DefaultApiVersion> = E['success']['json'] extends {
  versioned: infer M extends Record<'2025-10-28' | '2026-01-21', z.ZodType>;
}
  ? z.output<ShapeAt<M, V> & z.ZodType>
  : E['success']['json'] extends z.ZodType
    ? z.output<E['success']['json']>
    : undefined;

/** What an endpoint's JSON body takes. */
export type BodyOf<E extends Endpoint> = E['body'] extends { json: infer J extends z.ZodType } ? z.input<J> : undefined;

/** An endpoint's path parameters, as the server reads them. */
export type ParamsOf<E extends Endpoint> = E['params'] extends z.ZodType ? z.output<E['params']> : never;

/** An endpoint's query, as the server reads it. */
export type QueryOf<E extends Endpoint> = E['query'] extends z.ZodType ? z.output<E['query']> : never;

export type CallInput<E extends Endpoint, V extends ApiVersion> = ([PathParamNames<E['path']>] extends [never]
  ? { params?: undefined }
  : { params: Record<PathParamNames<E['path']>, string | number> }) & {
  /** entries that are null or undefined are left out */
  query?: Record<string, string | number | boolean | null | undefined>;
  body?: BodyOf<E>;
  /** the `X-Phala-Version` to ask for (and read the answer as); default: the client's */
  version?: V;
};

/** Send `input` to endpoint `e` through `client.request`; resolves with the answer, typed by the contract. */
export async function callEndpoint<E extends Endpoint, CV extends ApiVersion, V extends ApiVersion = CV>(
  client: Client<CV>,
  e: E,
  input: CallInput<E, V>,
  opts: RequestOptions = {},
): Promise<AnswerOf<E, V>> {
  const headers = { ...(input.version ? { 'x-phala-version': input.version } : {}), ...opts.headers };
  return client.request<AnswerOf<E, V>>(e.method, pathOf(e, input.params, input.query), input.body, { ...opts, headers });
}

function pathOf(e: Endpoint, params: Record<string, string | number> = {}, query: CallInput<Endpoint, ApiVersion>['query'] = {}): string {
  if (!e.path.startsWith(`${API_PREFIX}/`)) throw new OpenCvmError(`${e.id} is not an endpoint under ${API_PREFIX}. Nothing was sent.`, 0, null);
  const path = e.path.slice(API_PREFIX.length).replace(/\{([^}]+)\}/g, (_, name: string) => {
    const value = params[name];
    if (value === undefined || value === null || value === '') {
      throw new OpenCvmError(`${name} is required to call ${e.method} ${e.path}. Nothing was sent.`, 0, null);
    }
    return encodeURIComponent(String(value));
  });
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v != null) q.set(k, String(v));
  const qs = q.toString();
  return qs ? `${path}?${qs}` : path;
}
