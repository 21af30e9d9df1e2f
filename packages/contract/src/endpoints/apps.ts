/** Apps: the workspace's apps that have a live CVM, one app, its CVMs. */
import { z } from 'zod';
import { defineEndpoint } from '../endpoint.ts';
import { ErrorCodes as E } from '../errors.ts';
import { appListQuerySchema } from '../requests/reads.ts';
import { appFilterOptionsSchema, appPageV2025Schema, appPageV2026Schema, appV2025Schema, appV2026Schema } from '../shapes/apps.ts';
import { cvmInfoV2026Schema, cvmListItemV2025Schema } from '../shapes/cvm.ts';
import { appIdParams } from './params.ts';

export const getAppList = defineEndpoint({
  id: 'getAppList',
  method: 'GET',
  path: '/api/v1/apps',
  summary: "A page of the workspace's apps with a live CVM, newest first",
  description: 'CVM filters (status, listed, base_image, instance_type, node, region, search) need one of the app\'s live CVMs to match them all.',
  tag: 'Apps',
  auth: 'apiKey',
  query: appListQuerySchema,
  success: {
    status: 200,
    description: 'The page',
    json: { versioned: { '2025-10-28': appPageV2025Schema, '2026-01-21': appPageV2026Schema } },
  },
  phalaSchema: { '2025-10-28': 'DstackAppListResponseV20251028Schema', '2026-01-21': 'DstackAppListResponseV20260121Schema' },
});

export const getAppFilterOptions = defineEndpoint({
  id: 'getAppFilterOptions',
  method: 'GET',
  path: '/api/v1/apps/filter-options',
  summary: "The values GET /apps's filters can take: the distinct statuses, images, instance types, KMS, regions and hosts of the workspace's live CVMs",
  description: 'Only the caller\'s workspace\'s CVMs (not deleted) are read. A static path: it is matched before `/apps/{app_id}`.',
  tag: 'Apps',
  auth: 'apiKey',
  success: { status: 200, description: 'The values, each list distinct and sorted', json: appFilterOptionsSchema },
  phalaSchema: 'AppFilterOptionsSchema',
});

export const getAppInfo = defineEndpoint({
  id: 'getAppInfo',
  method: 'GET',
  path: '/api/v1/apps/{app_id}',
  summary: 'One app with its live CVMs',
  tag: 'Apps',
  auth: 'apiKey',
  resolve: 'app',
  params: appIdParams,
  success: { status: 200, description: 'The app', json: { versioned: { '2025-10-28': appV2025Schema, '2026-01-21': appV2026Schema } } },
  phalaSchema: { '2025-10-28': 'DstackAppWithCvmResponseV20251028Schema', '2026-01-21': 'DstackAppWithCvmResponseV20260121Schema' },
});

export const getAppCvms = defineEndpoint({
  id: 'getAppCvms',
  method: 'GET',
  path: '/api/v1/apps/{app_id}/cvms',
  summary: "An app's live CVMs, newest first",
  tag: 'Apps',
  auth: 'apiKey',
  resolve: 'app',
  params: appIdParams,
  success: {
    status: 200,
    description: 'The CVMs',
    json: { versioned: { '2025-10-28': z.array(cvmListItemV2025Schema), '2026-01-21': z.array(cvmInfoV2026Schema) } },
  },
});
