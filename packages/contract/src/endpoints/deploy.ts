/** The two-phase deploy: provision (the app's identity, nothing runs yet), then commit (the CVM boots). */
import { defineEndpoint } from '../endpoint.ts';
import { ErrorCodes as E } from '../errors.ts';
import { commitRequestSchema, provisionRequestSchema } from '../requests/deploy.ts';
import { commitResultSchema, commitResultV20260522Schema } from '../shapes/cvm.ts';
import { provisionResultSchema } from '../shapes/deploy.ts';

/** Why a placement can be refused: each names the missing resource. */
export const PLACEMENT_ERRORS = [
  E.NODE_NOT_FOUND,
  E.HOST_CORDONED,
  E.RESOURCE_NOT_AVAILABLE,
  E.IMAGE_NOT_FOUND,
  E.INSUFFICIENT_GPU,
  E.OS_IMAGE_NOT_COMPATIBLE,
  E.INSUFFICIENT_SLOTS,
  E.INSUFFICIENT_VCPU,
  E.INSUFFICIENT_MEMORY,
] as const;

export const provisionCvm = defineEndpoint({
  id: 'provisionCvm',
  method: 'POST',
  path: '/api/v1/cvms/provision',
  summary: 'Phase one of a deploy: validate and hash the app-compose, choose a node, reserve the app id',
  description:
    'Returns `compose_hash` (SHA-256 of the exact app-compose the host will boot), and with the PHALA KMS the `app_id` and the app\'s X25519 `app_env_encrypt_pubkey`, to which the client seals its env. Kept 14 days for the commit. The host is chosen by the scheduler: `node_id`/`teepod_id` if given, `region`, the instance type\'s or the explicit vCPU, memory and disk, the GPUs (`gpus`: a slot or a product id per GPU), the OS image (a production image never goes to a dev host), on-chain KMS support, and `node_labels` (an opencvm extension: labels the host must carry), against what the host\'s live CVMs are allocated; an app\'s replicas spread across hosts. A refusal says, per constraint, how many hosts lacked what.',
  tag: 'Deploy',
  auth: 'apiKey',
  body: { json: provisionRequestSchema },
  success: { status: 200, description: 'The app\'s measured identity', json: provisionResultSchema },
  errors: {
    400: [E.COMPOSE_FILE_REQUIRED, E.INVALID_COMPOSE_FILE, E.KMS_NOT_FOUND, E.INSTANCE_TYPE_NOT_FOUND, ...PLACEMENT_ERRORS],
    409: [E.DUPLICATE_CVM_NAME, E.CVM_APP_ID_CONFLICT],
    413: [E.INVALID_COMPOSE_FILE],
  },
  phalaSchema: 'ProvisionCvmSchema',
});

export const commitCvmProvision = defineEndpoint({
  id: 'commitCvmProvision',
  method: 'POST',
  path: '/api/v1/cvms',
  summary: 'Phase two of a deploy: record the CVM from a provision and boot it',
  description:
    'Answers at once; the CVM shows `starting` until its host reports the boot done (`running`). With an on-chain KMS (ETHEREUM, BASE), `app_id` is the app contract `deployAppAuth` deployed; before anything is recorded the chain is asked whether the app is registered in the KMS contract and allows the compose hash and the device the CVM is placed on.',
  tag: 'Deploy',
  auth: 'apiKey',
  body: { json: commitRequestSchema },
  success: {
    status: 200,
    description: 'The CVM, starting (its `id` a string from X-Phala-Version 2026-05-22 on)',
    json: { versioned: { '2025-10-28': commitResultSchema, '2026-01-21': commitResultSchema, '2026-05-22': commitResultV20260522Schema } },
  },
  errors: {
    400: [E.HASH_INVALID_OR_EXPIRED, E.INCOMPATIBLE_CONFIG, E.INVALID_REQUEST, E.KMS_NOT_FOUND, E.APP_NOT_REGISTERED, E.HASH_NOT_ALLOWED, E.DEVICE_NOT_ALLOWED, ...PLACEMENT_ERRORS],
    409: [E.DUPLICATE_CVM_NAME, E.CVM_APP_ID_CONFLICT, E.CVM_BUSY],
    503: [E.CHAIN_UNAVAILABLE],
  },
  phalaSchema: { '2025-10-28': 'CommitCvmProvisionSchema', '2026-01-21': 'CommitCvmProvisionSchema' },
});
