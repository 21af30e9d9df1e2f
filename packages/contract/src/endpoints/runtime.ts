/** What a running CVM reports, from the store's snapshot of its guest (refreshed every few seconds). */
import { defineEndpoint, type Endpoint } from '../endpoint.ts';
import { compositionSchema, networkSchema, statsSchema } from '../shapes/runtime.ts';
import { cvmIdParams } from './params.ts';

const runtime = { method: 'GET', tag: 'Runtime', auth: 'apiKey', resolve: 'cvm', params: cvmIdParams } as const satisfies Partial<Endpoint>;

export const getCvmContainersStats = defineEndpoint({
  ...runtime,
  id: 'getCvmContainersStats',
  path: '/api/v1/cvms/{id}/composition',
  summary: "The CVM's containers, each with its log URL",
  success: { status: 200, description: 'The containers', json: compositionSchema },
  phalaSchema: 'CvmContainersStatsSchema',
});

export const getCvmStats = defineEndpoint({
  ...runtime,
  id: 'getCvmStats',
  path: '/api/v1/cvms/{id}/stats',
  summary: "The guest's system figures",
  success: { status: 200, description: 'SysInfo', json: statsSchema },
  phalaSchema: 'CvmSystemInfoSchema',
});

export const getCvmNetwork = defineEndpoint({
  ...runtime,
  id: 'getCvmNetwork',
  path: '/api/v1/cvms/{id}/network',
  summary: "The CVM's gateway URLs and network",
  success: { status: 200, description: 'The network', json: networkSchema },
  phalaSchema: 'CvmNetworkSchema',
});
