/** What the server says about itself: health, this API's OpenAPI document and its reference page. */
import { z } from 'zod';
import { defineEndpoint } from '../endpoint.ts';
import { ErrorCodes as E } from '../errors.ts';
import { healthSchema } from '../shapes/common.ts';

export const getHealth = defineEndpoint({
  id: 'getHealth',
  method: 'GET',
  path: '/healthz',
  summary: 'Health check',
  tag: 'Meta',
  auth: 'public',
  extension: true,
  success: { status: 200, description: 'The server is up', json: healthSchema },
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
