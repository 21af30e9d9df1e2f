/** What the server says about itself: health, metrics, this API's OpenAPI document and its reference page. */
import { z } from 'zod';
import { defineEndpoint } from '../endpoint.ts';
import { ErrorCodes as E } from '../errors.ts';
import { healthSchema } from '../shapes/common.ts';

export const getHealth = defineEndpoint({
  id: 'getHealth',
  method: 'GET',
  path: '/healthz',
  summary: 'Health check: the server is up and its database answers',
  description: 'Runs `SELECT 1` on the database with a 2 s limit: 200 when it answers, 503 `ERR-00-503` when it does not (a load balancer should take the server out of rotation then).',
  tag: 'Meta',
  auth: 'public',
  extension: true,
  success: { status: 200, description: 'The server is up and its database answers', json: healthSchema },
  errors: { 503: [E.DATABASE_UNAVAILABLE] },
});

export const getMetrics = defineEndpoint({
  id: 'getMetrics',
  method: 'GET',
  path: '/metrics',
  summary: 'Prometheus metrics',
  description:
    'The Prometheus text exposition format (0.0.4): HTTP request latency by route, operations by kind and outcome, the operation queue, host call latency and errors, KMS key releases, and the process metrics. Without `OPENCVM_METRICS_TOKEN` anyone who reaches the server may read it; with one, only a caller sending it as `Authorization: Bearer`.',
  tag: 'Meta',
  auth: 'metricsToken',
  extension: true,
  success: { status: 200, description: 'The metrics', media: [{ type: 'text/plain', description: 'Prometheus text exposition format, version 0.0.4' }] },
});

export const getOpenApi = defineEndpoint({
  id: 'getOpenApi',
  method: 'GET',
  path: '/api/v1/openapi.json',
  summary: 'This API as an OpenAPI 3.1 document',
  tag: 'Meta',
  auth: 'public',
  extension: true,
  success: { status: 200, description: 'The OpenAPI document', json: z.record(z.string(), z.unknown()) },
});

export const getApiReference = defineEndpoint({
  id: 'getApiReference',
  method: 'GET',
  path: '/api/v1/docs',
  summary: 'A readable reference page of this API',
  tag: 'Meta',
  auth: 'public',
  extension: true,
  success: { status: 200, description: 'An HTML page rendering the OpenAPI document', media: [{ type: 'text/html', description: 'the reference page' }] },
});

/** The reference page's assets (Swagger UI, served from this server: the page fetches nothing from elsewhere). */
export const API_REFERENCE_ASSETS = ['swagger-ui-bundle.js', 'swagger-ui.css'] as const;

export const getApiReferenceAsset = defineEndpoint({
  id: 'getApiReferenceAsset',
  method: 'GET',
  path: '/api/v1/docs/{asset}',
  summary: "An asset of the reference page (Swagger UI's script or stylesheet)",
  tag: 'Meta',
  auth: 'public',
  extension: true,
  params: z.object({ asset: z.enum(API_REFERENCE_ASSETS, { error: `asset must be one of ${API_REFERENCE_ASSETS.join(', ')}` }) }),
  success: {
    status: 200,
    description: 'The asset',
    media: [
      { type: 'text/javascript', description: 'the renderer' },
      { type: 'text/css', description: 'its stylesheet' },
    ],
  },
  errors: { 404: [E.ROUTE_NOT_FOUND] },
});
