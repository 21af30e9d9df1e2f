/**
 * The OpenAPI 3.1 document of the API, generated from the endpoint declarations: JSON Schemas come from
 * the zod schemas (OpenAPI 3.1 uses JSON Schema 2020-12, which zod emits), shapes with an id become
 * `components.schemas`, each error status answers the error envelope and lists its `ERR-` codes.
 */
import { z } from 'zod';
import { API_VERSIONS, DEFAULT_API_VERSION } from './api-version.ts';
import { errorsOf, type Endpoint, type JsonBody } from './endpoint.ts';
import { errorEnvelopeSchema, guestKmsErrorSchema } from './errors.ts';

type Json = Record<string, unknown>;

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad request',
  401: 'Not authenticated',
  403: 'Forbidden',
  404: 'Not found',
  409: 'Conflict',
  413: 'Too large',
  415: 'Unsupported media type',
  422: 'Invalid input: the message names each field to fix',
  465: 'Kept, not applied: prepare-only, or a compose hash the on-chain app must allow first (the details carry the hash and the commit token)',
  466: 'No kept change for that compose hash (none, used, or expired)',
  467: 'The transaction does not prove the compose hash added to the app\'s contract',
  468: 'The app\'s contract does not allow the compose hash',
  429: 'Too many requests: retry after the Retry-After header\'s seconds',
  502: 'The host could not be reached',
  503: 'Unavailable: the database (or the chain of an on-chain KMS) does not answer',
};

export interface OpenApiOptions {
  /** the server's public base URL (the document's `servers`) */
  serverUrl?: string;
  version?: string;
}

/** Build the document. Pure: the same declarations give the same document. */
export function buildOpenApi(endpoints: readonly Endpoint[], opts: OpenApiOptions = {}): Json {
  const schemas: Record<string, unknown> = {};
  /** zod → JSON Schema; schemas with an id go to components and are referenced */
  const toSchema = (schema: z.ZodType, io: 'input' | 'output'): Json => {
    const out = z.toJSONSchema(schema, { target: 'draft-2020-12', io, unrepresentable: 'any' }) as Json;
    const rewrite = (v: unknown): unknown => {
      if (Array.isArray(v)) return v.map(rewrite);
      if (v && typeof v === 'object') {
        const o: Json = {};
        for (const [k, val] of Object.entries(v)) {
          o[k] = k === '$ref' && typeof val === 'string' ? val.replace('#/$defs/', '#/components/schemas/') : rewrite(val);
        }
        return o;
      }
      return v;
    };
    const { $defs, $schema: _, ...rest } = rewrite(out) as Json & { $defs?: Json };
    for (const [id, def] of Object.entries($defs ?? {})) schemas[id] ??= def;
    return rest;
  };
  const envelopeRef = toSchema(errorEnvelopeSchema, 'output');
  /** the guest KMS (`/kms/prpc/…`) answers its errors as dstack's pRPC does, the envelope beside */
  const errorRefOf = (e: Endpoint): Json => (e.path.startsWith('/kms/prpc/') ? toSchema(guestKmsErrorSchema, 'output') : envelopeRef);

  const jsonContent = (body: JsonBody): Json => {
    if ('versioned' in body) {
      return {
        // anyOf, not oneOf: an answer can fit both shapes (an empty list does), and either one is right.
        schema: {
          anyOf: API_VERSIONS.filter((v) => body.versioned[v]).map((v) => ({
            ...toSchema(body.versioned[v]!, 'output'),
            title: `X-Phala-Version: ${v}`,
          })),
        },
      };
    }
    return { schema: toSchema(body, 'output') };
  };

  const paths: Record<string, Json> = {};
  for (const e of endpoints) {
    const parameters: Json[] = [];
    const addParams = (schema: z.ZodType | undefined, where: 'path' | 'query' | 'header') => {
      if (!schema) return;
      const s = toSchema(schema, 'input') as { properties?: Record<string, Json>; required?: string[] };
      for (const [name, prop] of Object.entries(s.properties ?? {})) {
        const { description, ...rest } = prop as Json & { description?: string };
        parameters.push({
          name,
          in: where,
          required: where === 'path' || (s.required ?? []).includes(name),
          ...(description ? { description } : {}),
          schema: rest,
        });
      }
    };
    addParams(e.params, 'path');
    addParams(e.query, 'query');
    addParams(e.headers, 'header');
    const versioned = !!e.success.json && 'versioned' in e.success.json;
    if (versioned) {
      parameters.push({
        name: 'X-Phala-Version',
        in: 'header',
        required: false,
        description: `The answer's shape (default ${DEFAULT_API_VERSION}; any other value means the default)`,
        // any text: the server answers an unknown version with the default shape, it does not refuse it
        schema: { type: 'string', examples: [...API_VERSIONS] },
      });
    }

    const responses: Record<string, Json> = {};
    const content: Json = {};
    if (e.success.json) content['application/json'] = jsonContent(e.success.json);
    for (const m of e.success.media ?? []) content[m.type] = { schema: { type: 'string', description: m.description } };
    responses[String(e.success.status)] = { description: e.success.description, ...(Object.keys(content).length ? { content } : {}) };
    for (const [status, codes] of [...errorsOf(e)].sort(([a], [b]) => a - b)) {
      responses[String(status)] = {
        description: `${STATUS_TEXT[status] ?? 'Error'}: ${[...codes].join(', ')}`,
        content: { 'application/json': { schema: errorRefOf(e) } },
      };
    }

    // `{}` as a second choice: the credential is optional. `metricsToken`: only a server given a metrics token asks
    // for it; `hostToken`: only the guest KMS's GetAppKey reads it (GetMeta and GetAppEnvEncryptPubKey are public)
    const op: Json = {
      operationId: e.id,
      summary: e.summary,
      ...(e.description ? { description: e.description } : {}),
      tags: [e.tag],
      security: e.auth === 'apiKey' ? [{ ApiKey: [] }] : e.auth === 'logToken' ? [{ LogToken: [] }] : e.auth === 'hostToken' ? [{ HostToken: [] }, {}] : e.auth === 'metricsToken' ? [{ MetricsToken: [] }, {}] : e.auth === 'adminKey' ? [{ AdminKey: [] }] : [],
      ...(parameters.length ? { parameters } : {}),
      responses,
      ...(e.extension ? { 'x-opencvm-extension': true } : {}),
    };
    if (e.body) {
      const body: Json = {};
      if (e.body.json) body['application/json'] = { schema: toSchema(e.body.json, 'input') };
      if (e.body.json && e.body.multipart) {
        const form = toSchema(e.body.json, 'input');
        const props = (form.properties ?? {}) as Record<string, Json>;
        if (props.file) props.file = { type: 'string', format: 'binary', description: 'the raw quote file' };
        body['multipart/form-data'] = { schema: form };
      }
      for (const t of e.body.text?.types ?? []) body[t] = { schema: { type: 'string', description: e.body.text!.description } };
      op.requestBody = { required: !e.body.optional, content: body };
    }
    (paths[e.path] ??= {})[e.method.toLowerCase()] = op;
  }

  return {
    openapi: '3.1.0',
    info: {
      title: 'opencvm API',
      version: opts.version ?? '0.1.0',
      description:
        "The Phala Cloud API as opencvm serves it, for Confidential VMs on dstack hosts you own. The official `@phala/cloud` SDK and `phala` CLI work against it: point `PHALA_CLOUD_API_PREFIX` at `<server>/api/v1`. Operations marked `x-opencvm-extension` are opencvm's own.",
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    ...(opts.serverUrl ? { servers: [{ url: opts.serverUrl }] } : {}),
    paths,
    components: {
      schemas,
      securitySchemes: {
        ApiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'A workspace API key' },
        LogToken: { type: 'apiKey', in: 'query', name: 'token', description: 'The signed token of a log URL the API returned' },
        HostToken: { type: 'http', scheme: 'bearer', description: "A registered host's KMS credential, presented by its guests" },
        AdminKey: { type: 'apiKey', in: 'header', name: 'X-Admin-Key', description: "The server's admin key (OPENCVM_ADMIN_KEY), for the host admin API; without one that API is off" },
        MetricsToken: { type: 'http', scheme: 'bearer', description: 'The metrics token the server was started with (OPENCVM_METRICS_TOKEN); without one, GET /metrics needs no credential' },
      },
    },
  };
}
