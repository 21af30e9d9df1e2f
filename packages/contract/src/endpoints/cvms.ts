/** Reading CVMs: one, a page, their state, what they were deployed with, their operations. */
import { z } from 'zod';
import { defineEndpoint } from '../endpoint.ts';
import { ErrorCodes as E } from '../errors.ts';
import { cvmPageQuerySchema, operationsQuerySchema, statusBatchBodySchema, watchQuerySchema } from '../requests/reads.ts';
import { pageOf } from '../shapes/common.ts';
import {
  appComposeSchema,
  cvmDetailV2025Schema,
  cvmDetailV2026Schema,
  cvmInfoV2026Schema,
  cvmListItemV2025Schema,
  cvmStateSchema,
  statusBatchResultSchema,
  userConfigSchema,
} from '../shapes/cvm.ts';
import { operationListSchema, operationSchema } from '../shapes/updates.ts';
import { cvmIdParams, operationParams } from './params.ts';

export const getCvm = defineEndpoint({
  id: 'getCvm',
  method: 'GET',
  path: '/api/v1/cvms/{id}',
  summary: 'One CVM',
  description: 'Read from the store, never from a host. The shape follows X-Phala-Version.',
  tag: 'CVMs',
  auth: 'apiKey',
  resolve: 'cvm',
  params: cvmIdParams,
  success: {
    status: 200,
    description: 'The CVM',
    json: { versioned: { '2025-10-28': cvmDetailV2025Schema, '2026-01-21': cvmDetailV2026Schema } },
  },
  phalaSchema: { '2025-10-28': 'CvmDetailV20251028Schema', '2026-01-21': 'CvmInfoDetailV20260121Schema' },
});

export const listCvms = defineEndpoint({
  id: 'listCvms',
  method: 'GET',
  path: '/api/v1/cvms/paginated',
  summary: "A page of the workspace's CVMs, newest first",
  tag: 'CVMs',
  auth: 'apiKey',
  query: cvmPageQuerySchema,
  success: {
    status: 200,
    description: 'The page',
    json: { versioned: { '2025-10-28': pageOf(cvmListItemV2025Schema), '2026-01-21': pageOf(cvmInfoV2026Schema) } },
  },
  phalaSchema: { '2025-10-28': 'PaginatedCvmInfosV20251028Schema', '2026-01-21': 'PaginatedCvmInfosV20260121Schema' },
});

export const getCvmState = defineEndpoint({
  id: 'getCvmState',
  method: 'GET',
  path: '/api/v1/cvms/{id}/state',
  summary: "A CVM's state, or with `Accept: text/event-stream` a stream of it",
  description:
    'As a stream (the official SDK\'s `watchCvmState`): `event: state` at once and on every change, `event: complete` when the status is `target` (without one: once nothing is in flight), `event: timeout` after `timeout` seconds, `event: error` if the CVM is deleted or fails first.',
  tag: 'CVMs',
  auth: 'apiKey',
  resolve: 'cvm',
  params: cvmIdParams,
  query: watchQuerySchema,
  success: {
    status: 200,
    description: 'The state',
    json: cvmStateSchema,
    media: [{ type: 'text/event-stream', description: 'state / complete / timeout / error events, when asked for with Accept' }],
  },
  phalaSchema: 'CvmStateSchema',
});

export const getCvmStatusBatch = defineEndpoint({
  id: 'getCvmStatusBatch',
  method: 'POST',
  path: '/api/v1/status/batch',
  summary: 'The status of many CVMs by vm_uuid',
  description: 'Keyed by exactly the strings sent; ids of no CVM of this workspace are left out.',
  tag: 'CVMs',
  auth: 'apiKey',
  body: { json: statusBatchBodySchema },
  success: { status: 200, description: 'vm_uuid → status', json: statusBatchResultSchema },
  phalaSchema: 'GetCvmStatusBatchResponseSchema',
});

export const getCvmComposeFile = defineEndpoint({
  id: 'getCvmComposeFile',
  method: 'GET',
  path: '/api/v1/cvms/{id}/compose_file',
  summary: 'The app-compose the CVM runs',
  tag: 'CVMs',
  auth: 'apiKey',
  resolve: 'cvm',
  params: cvmIdParams,
  success: { status: 200, description: "dstack's app-compose", json: appComposeSchema },
  phalaSchema: 'LooseAppComposeSchema',
});

export const getCvmDockerCompose = defineEndpoint({
  id: 'getCvmDockerCompose',
  method: 'GET',
  path: '/api/v1/cvms/{id}/docker-compose.yml',
  summary: "The CVM's docker-compose YAML",
  tag: 'CVMs',
  auth: 'apiKey',
  resolve: 'cvm',
  params: cvmIdParams,
  success: { status: 200, description: 'The YAML', media: [{ type: 'text/yaml', description: 'docker-compose.yml' }] },
});

export const getCvmPreLaunchScript = defineEndpoint({
  id: 'getCvmPreLaunchScript',
  method: 'GET',
  path: '/api/v1/cvms/{id}/pre-launch-script',
  summary: "The CVM's pre-launch script (empty if it has none)",
  description:
    'Before X-Phala-Version 2026-05-22: the script as text/plain (an empty body if there is none). From 2026-05-22 on (the Python SDK `phala-cloud`): ' +
    'the script as a JSON string (`""` if there is none), which that SDK reads as its string (it makes "None" of an empty body).',
  tag: 'CVMs',
  auth: 'apiKey',
  resolve: 'cvm',
  params: cvmIdParams,
  success: {
    status: 200,
    description: 'The script',
    media: [{ type: 'text/plain', description: 'the script, before X-Phala-Version 2026-05-22' }],
    json: {
      versioned: {
        '2025-10-28': z.never().meta({ description: 'no JSON at this version: text/plain' }),
        '2026-01-21': z.never().meta({ description: 'no JSON at this version: text/plain' }),
        '2026-05-22': z.string().meta({ description: 'the script, "" if there is none' }),
      },
    },
  },
});

export const getCvmUserConfig = defineEndpoint({
  id: 'getCvmUserConfig',
  method: 'GET',
  path: '/api/v1/cvms/{id}/user_config',
  summary: "The CVM's user config: hostname, SSH keys, gateway domain",
  tag: 'CVMs',
  auth: 'apiKey',
  resolve: 'cvm',
  params: cvmIdParams,
  success: { status: 200, description: 'The user config', json: userConfigSchema },
  phalaSchema: 'CvmUserConfigSchema',
});

export const listCvmOperations = defineEndpoint({
  id: 'listCvmOperations',
  method: 'GET',
  path: '/api/v1/cvms/{id}/operations',
  summary: "The CVM's operations, newest first: what each did and how it ended",
  tag: 'CVMs',
  auth: 'apiKey',
  extension: true,
  resolve: 'cvm',
  params: cvmIdParams,
  query: operationsQuerySchema,
  success: { status: 200, description: 'The operations', json: operationListSchema },
});

export const getCvmOperation = defineEndpoint({
  id: 'getCvmOperation',
  method: 'GET',
  path: '/api/v1/cvms/{id}/operations/{correlation_id}',
  summary: 'One operation of the CVM, by the correlation_id a change answered with',
  tag: 'CVMs',
  auth: 'apiKey',
  extension: true,
  resolve: 'cvm',
  params: operationParams,
  success: { status: 200, description: 'The operation', json: operationSchema },
  errors: { 404: [E.CVM_NOT_FOUND] },
});
