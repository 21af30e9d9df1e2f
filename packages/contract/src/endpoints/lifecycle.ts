/**
 * The CVM lifecycle. Each call records an operation and answers at once; the worker drives the host.
 * One operation per CVM at a time: another gets 409 `ERR-03-009` with `Retry-After`; an action that makes no
 * sense in the CVM's state (start a running CVM) gets 400 `ERR-03-008`.
 */
import { defineEndpoint, type Endpoint } from '../endpoint.ts';
import { ErrorCodes as E } from '../errors.ts';
import { commitReplicaBodySchema, instanceBodySchema, prepareOnlyHeaderSchema, replicaBodySchema, restartBodySchema } from '../requests/lifecycle.ts';
import { cvmInfoV2026Schema, deleteAcceptedSchema, vmSchema, vmV20260522Schema } from '../shapes/cvm.ts';
import { PLACEMENT_ERRORS } from './deploy.ts';
import { appIdParams, cvmIdParams } from './params.ts';

const lifecycle = {
  tag: 'Lifecycle',
  auth: 'apiKey',
  resolve: 'cvm',
  params: cvmIdParams,
  errors: { 400: [E.CVM_INVALID_STATE], 409: [E.CVM_BUSY] },
  phalaSchema: { '2025-10-28': 'VMSchema', '2026-01-21': 'VMSchema' },
} as const satisfies Partial<Endpoint>;

/** The CVM an action answers: `VMSchema`, its `id` a string from 2026-05-22 on. */
const vmAnswer = { versioned: { '2025-10-28': vmSchema, '2026-01-21': vmSchema, '2026-05-22': vmV20260522Schema } } as const;

export const startCvm = defineEndpoint({
  ...lifecycle,
  id: 'startCvm',
  method: 'POST',
  path: '/api/v1/cvms/{id}/start',
  summary: 'Start a stopped (or exited) CVM',
  success: { status: 200, description: 'The CVM, starting', json: vmAnswer },
});

export const stopCvm = defineEndpoint({
  ...lifecycle,
  id: 'stopCvm',
  method: 'POST',
  path: '/api/v1/cvms/{id}/stop',
  summary: 'Stop a CVM at once (its VM is killed)',
  success: { status: 200, description: 'The CVM, stopping', json: vmAnswer },
});

export const shutdownCvm = defineEndpoint({
  ...lifecycle,
  id: 'shutdownCvm',
  method: 'POST',
  path: '/api/v1/cvms/{id}/shutdown',
  summary: 'Shut a running CVM down gracefully (its containers stop cleanly first)',
  success: { status: 200, description: 'The CVM, stopping', json: vmAnswer },
});

export const restartCvm = defineEndpoint({
  ...lifecycle,
  id: 'restartCvm',
  method: 'POST',
  path: '/api/v1/cvms/{id}/restart',
  summary: 'Restart a CVM: graceful by default, `force` skips the graceful phase',
  body: { json: restartBodySchema, optional: true },
  success: { status: 200, description: 'The CVM, restarting', json: vmAnswer },
});

export const deleteCvm = defineEndpoint({
  ...lifecycle,
  id: 'deleteCvm',
  method: 'DELETE',
  role: 'admin',
  path: '/api/v1/cvms/{id}',
  summary: 'Delete a CVM: its VM and disk are removed from the host, its name becomes free',
  success: { status: 202, description: 'Accepted: the CVM is deleting', json: deleteAcceptedSchema },
  phalaSchema: undefined,
});

export const replicateCvm = defineEndpoint({
  ...lifecycle,
  id: 'replicateCvm',
  method: 'POST',
  path: '/api/v1/cvms/{id}/replicas',
  summary: 'A new CVM of the same app and configuration, on `node_id` or where the scheduler puts it',
  description:
    "On-chain KMS: only on a device the app's contract allows (with its compose hash). Otherwise, or with `X-Prepare-Only: true`, nothing is made: HTTP 465 whose `details` carry `compose_hash`, `app_id`, `device_id` (the chosen node's), `kms_info`, `commit_token`, `commit_url` (`POST /cvms/{id}/commit-replica`) and `onchain_status`.",
  headers: prepareOnlyHeaderSchema,
  body: { json: replicaBodySchema, optional: true },
  success: { status: 200, description: 'The replica, starting', json: vmAnswer },
  errors: {
    400: [E.INVALID_REQUEST, E.HASH_INVALID_OR_EXPIRED, E.REPLICA_IMAGE_NOT_AVAILABLE, ...PLACEMENT_ERRORS],
    409: [E.DUPLICATE_CVM_NAME],
    465: [E.HASH_REGISTRATION_REQUIRED],
    503: [E.CHAIN_UNAVAILABLE],
  },
});

export const createAppInstance = defineEndpoint({
  id: 'createAppInstance',
  method: 'POST',
  path: '/api/v1/apps/{app_id}/instances',
  summary: "One more instance of an app, like its newest CVM",
  description:
    "On-chain KMS: as `POST /cvms/{id}/replicas` (465 with `commit_url` this path); the same call with `{token, compose_hash, transaction_hash}` makes the kept instance, as `commit-replica` does. " +
    'The answer is the VM (`VMSchema`) before X-Phala-Version 2026-05-22, the CVM as list pages show it (`CvmInfoV20260121`, which the Python SDK `phala-cloud` reads as its `CvmInfoV20260522`) from then on.',
  tag: 'Lifecycle',
  auth: 'apiKey',
  resolve: 'app',
  params: appIdParams,
  headers: prepareOnlyHeaderSchema,
  body: { json: instanceBodySchema, optional: true },
  success: {
    status: 200,
    description: 'The new instance, starting',
    json: { versioned: { '2025-10-28': vmSchema, '2026-01-21': vmSchema, '2026-05-22': cvmInfoV2026Schema } },
  },
  errors: {
    400: [E.INVALID_REQUEST, E.INCOMPATIBLE_CONFIG, E.HASH_INVALID_OR_EXPIRED, E.REPLICA_IMAGE_NOT_AVAILABLE, E.COMMIT_TOKEN_INVALID, E.DEVICE_NOT_ALLOWED, ...PLACEMENT_ERRORS],
    404: [E.CVM_NOT_FOUND],
    409: [E.DUPLICATE_CVM_NAME],
    465: [E.HASH_REGISTRATION_REQUIRED],
    468: [E.HASH_NOT_ALLOWED],
    503: [E.CHAIN_UNAVAILABLE],
  },
  phalaSchema: { '2025-10-28': 'VMSchema', '2026-01-21': 'VMSchema' },
});

export const commitCvmReplica = defineEndpoint({
  id: 'commitCvmReplica',
  method: 'POST',
  path: '/api/v1/cvms/{id}/commit-replica',
  summary: 'Make an on-chain KMS replica kept by `POST /cvms/{id}/replicas` (465), once the app\'s contract allows its device and compose hash',
  description:
    "`token` is the 465 answer's `commit_token` (once, within 14 days); `compose_hash` may be empty. The contract is read now (468 the compose hash, 400 `ERR-01-011` the device), so `transaction_hash` (the CLI sends `already-registered`) is not needed.",
  tag: 'Lifecycle',
  auth: 'apiKey',
  resolve: 'cvm',
  params: cvmIdParams,
  body: { json: commitReplicaBodySchema, optional: true },
  success: { status: 200, description: 'The replica, starting', json: vmAnswer },
  errors: {
    400: [E.INVALID_REQUEST, E.COMMIT_TOKEN_INVALID, E.HASH_INVALID_OR_EXPIRED, E.DEVICE_NOT_ALLOWED, E.REPLICA_IMAGE_NOT_AVAILABLE, ...PLACEMENT_ERRORS],
    409: [E.DUPLICATE_CVM_NAME],
    468: [E.HASH_NOT_ALLOWED],
    503: [E.CHAIN_UNAVAILABLE],
  },
});
