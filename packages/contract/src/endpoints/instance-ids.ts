/**
 * Instance ids, in the two forms clients use: a NEW id (the VM is created again with the same configuration;
 * the guest generates the id at that first boot), and a sync of the id the host reports (no VM is touched).
 */
import { defineEndpoint } from '../endpoint.ts';
import { ErrorCodes as E } from '../errors.ts';
import { renewInstanceIdsBodySchema, syncInstanceIdBodySchema, syncInstanceIdsBodySchema } from '../requests/instance-ids.ts';
import { instanceIdBatchSchema, instanceIdRenewalSchema, instanceIdResultSchema } from '../shapes/updates.ts';
import { cvmIdParams } from './params.ts';

export const refreshCvmInstanceIdNew = defineEndpoint({
  id: 'refreshCvmInstanceIdNew',
  method: 'POST',
  path: '/api/v1/cvms/{id}/refresh-instance-id',
  summary: 'A new instance id: the VM is removed and created again with the same configuration, and boots',
  tag: 'Instance ids',
  auth: 'apiKey',
  resolve: 'cvm',
  params: cvmIdParams,
  success: { status: 202, description: 'Queued: follow correlation_id', json: instanceIdRenewalSchema },
  errors: { 400: [E.CVM_INVALID_STATE], 409: [E.CVM_BUSY] },
});

export const refreshCvmInstanceIdsNew = defineEndpoint({
  id: 'refreshCvmInstanceIdsNew',
  method: 'POST',
  path: '/api/v1/cvms/refresh-instance-ids',
  summary: 'A new instance id for each named CVM (a CVM that cannot is an item, not a failed batch)',
  tag: 'Instance ids',
  auth: 'apiKey',
  body: { json: renewInstanceIdsBodySchema },
  success: { status: 200, description: 'One item per id', json: instanceIdBatchSchema },
});

export const refreshCvmInstanceId = defineEndpoint({
  id: 'refreshCvmInstanceId',
  method: 'PATCH',
  path: '/api/v1/cvms/{id}/instance-id',
  summary: 'Record the instance id the host reports for the CVM (never recreates a VM)',
  tag: 'Instance ids',
  auth: 'apiKey',
  resolve: 'cvm',
  params: cvmIdParams,
  body: { json: syncInstanceIdBodySchema, optional: true },
  success: { status: 200, description: 'What was found and recorded', json: instanceIdResultSchema },
  phalaSchema: 'InstanceIdRefreshResultSchema',
});

export const refreshCvmInstanceIds = defineEndpoint({
  id: 'refreshCvmInstanceIds',
  method: 'PATCH',
  path: '/api/v1/cvms/instance-ids',
  summary: "Record the instance ids the hosts report, for named CVMs or the workspace's (one host call per node)",
  tag: 'Instance ids',
  auth: 'apiKey',
  body: { json: syncInstanceIdsBodySchema, optional: true },
  success: { status: 200, description: 'One item per CVM examined', json: instanceIdBatchSchema },
  phalaSchema: 'RefreshCvmInstanceIdsResponseSchema',
});
