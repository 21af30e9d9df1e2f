/**
 * Configuration updates. Each answers at once with the operation's `correlation_id`: a change that reaches
 * the host restarts the CVM (`status: in_progress`), one that does not is recorded at once (`applied`).
 *
 * On-chain KMS (ETHEREUM, BASE): a change that moves the compose hash to one the app's contract does not allow
 * yet is kept, not applied, and answered HTTP 465 (`ERR-01-005`) with `details` naming the hash to register
 * (`compose_hash`, `app_id`, `device_id`, `kms_info`, `commit_token`, `commit_url`, `api_commit_url`,
 * `onchain_status`). Once `addComposeHash` is mined, the same request with `X-Compose-Hash` and
 * `X-Transaction-Hash` (for `/envs`: `compose_hash` and `transaction_hash` in the body; for `PATCH /cvms/{id}`
 * the body may be `{}`) applies it: 466 `ERR-01-006` no such kept change (or expired, or used), 467 `ERR-01-007`
 * the transaction does not prove the hash added to that app's contract, 468 `ERR-01-008` the contract does not
 * allow it now. `already-registered` as the transaction hash: the contract is read, no transaction checked.
 * A chain that does not answer: 503 `ERR-02-016`, nothing changed.
 */
import { defineEndpoint, type Endpoint } from '../endpoint.ts';
import { ErrorCodes as E } from '../errors.ts';
import { onChainConfirmationHeadersSchema } from '../requests/lifecycle.ts';
import { revisionQuerySchema, revisionsQuerySchema } from '../requests/reads.ts';
import { rollbackBodySchema } from '../requests/instance-ids.ts';
import {
  commitUpdateSchema,
  composeCommitSchema,
  composeProvisionSchema,
  envsPatchSchema,
  legacyComposeSchema,
  osImagePatchSchema,
  resourcesPatchSchema,
  unifiedPatchSchema,
  visibilityPatchSchema,
} from '../requests/updates.ts';
import { revisionDetailSchema, revisionPageSchema } from '../shapes/apps.ts';
import { availableOsImagesSchema } from '../shapes/catalog.ts';
import { cvmDetailV2025Schema } from '../shapes/cvm.ts';
import { composeProvisionResultSchema, legacyUpgradeAcceptedSchema, updateAcceptedSchema } from '../shapes/updates.ts';
import { cvmIdParams, revisionParams, appIdParams } from './params.ts';

/** What any change can be refused for. */
export const CHANGE_ERRORS = {
  400: [
    E.INVALID_REQUEST,
    E.CVM_INVALID_STATE,
    E.INCOMPATIBLE_CONFIG,
    E.COMPOSE_FILE_REQUIRED,
    E.INVALID_COMPOSE_FILE,
    E.INSUFFICIENT_VCPU,
    E.INSUFFICIENT_MEMORY,
    E.IMAGE_NOT_FOUND,
    E.OS_IMAGE_NOT_COMPATIBLE,
    E.INSTANCE_TYPE_NOT_FOUND,
    E.INSUFFICIENT_GPU,
  ],
  409: [E.CVM_BUSY],
  413: [E.INVALID_COMPOSE_FILE],
  // on-chain KMS: a new compose hash the app's contract does not allow yet (kept, not applied)
  465: [E.HASH_REGISTRATION_REQUIRED],
  503: [E.CHAIN_UNAVAILABLE],
} as const;

/** What a confirmation (`X-Compose-Hash` + `X-Transaction-Hash`) can be refused for, on top. */
const CONFIRM_ERRORS = {
  466: [E.HASH_INVALID_OR_EXPIRED],
  467: [E.TX_VERIFICATION_FAILED],
  468: [E.HASH_NOT_ALLOWED],
} as const;

/** A commit of a kept change with its transaction: the chain's proof. */
export const PROOF_ERRORS = {
  467: [E.TX_VERIFICATION_FAILED],
  468: [E.HASH_NOT_ALLOWED],
} as const;

const change = {
  tag: 'Configuration',
  auth: 'apiKey',
  resolve: 'cvm',
  params: cvmIdParams,
  errors: CHANGE_ERRORS,
} as const satisfies Partial<Endpoint>;

const accepted = { status: 202, description: 'Accepted', json: updateAcceptedSchema } as const;

export const patchCvm = defineEndpoint({
  ...change,
  id: 'patchCvm',
  method: 'PATCH',
  path: '/api/v1/cvms/{id}',
  summary: 'Change any subset of a CVM\'s configuration at once',
  description:
    'With `X-Prepare-Only: true` nothing changes: the answer is HTTP 465 whose `details` carry `compose_hash` and a one-time `commit_token` for `POST /cvms/{id}/commit-update` (the official SDK turns it into `{requiresOnChainHash: true, commitToken, ...}`). ' +
    'On-chain KMS: a new compose hash the app\'s contract does not allow yet answers 465 the same way; `X-Compose-Hash` + `X-Transaction-Hash` with body `{}` (the official SDK\'s `confirmCvmPatch`) applies it once the chain allows it (466, 467, 468 otherwise).',
  headers: onChainConfirmationHeadersSchema,
  body: { json: unifiedPatchSchema, optional: true },
  success: accepted,
  errors: { ...CHANGE_ERRORS, ...CONFIRM_ERRORS },
});

export const commitCvmUpdate = defineEndpoint({
  ...change,
  id: 'commitCvmUpdate',
  method: 'POST',
  path: '/api/v1/cvms/{id}/commit-update',
  summary: 'Apply what a prepare-only PATCH (or a 465) kept, once, with its commit token',
  description:
    'On-chain KMS, when the change moves the compose hash: `transaction_hash` (the `addComposeHash` transaction, which any account may have sent: a multisig owner) must prove the hash added to the app\'s contract (467), and the contract must allow it now (468); empty or `already-registered`: the contract is read only. An empty `compose_hash` is the token\'s.',
  body: { json: commitUpdateSchema },
  success: accepted,
  errors: { ...CHANGE_ERRORS, 400: [...CHANGE_ERRORS[400], E.COMMIT_TOKEN_INVALID, E.HASH_INVALID_OR_EXPIRED], ...PROOF_ERRORS },
});

export const updateCvmResources = defineEndpoint({
  ...change,
  id: 'updateCvmResources',
  method: 'PATCH',
  path: '/api/v1/cvms/{id}/resources',
  summary: 'Change vCPU, memory (MB), disk size (GB, grows only) or instance type',
  body: { json: resourcesPatchSchema, optional: true },
  success: accepted,
});

export const updateCvmVisibility = defineEndpoint({
  ...change,
  id: 'updateCvmVisibility',
  method: 'PATCH',
  path: '/api/v1/cvms/{id}/visibility',
  summary: 'Change `listed` and the public logs / sysinfo / tcbinfo flags',
  description: 'Answers the CVM in the 2025-10-28 detail shape whatever X-Phala-Version says, as the official SDK expects.',
  body: { json: visibilityPatchSchema, optional: true },
  success: { status: 200, description: 'The CVM', json: cvmDetailV2025Schema },
  phalaSchema: 'CvmDetailV20251028Schema',
});

export const updateOsImage = defineEndpoint({
  ...change,
  id: 'updateOsImage',
  method: 'PATCH',
  path: '/api/v1/cvms/{id}/os-image',
  summary: 'Boot another OS image of the CVM\'s node',
  body: { json: osImagePatchSchema },
  success: accepted,
});

export const getAvailableOsImages = defineEndpoint({
  id: 'getAvailableOsImages',
  method: 'GET',
  path: '/api/v1/cvms/{id}/available-os-images',
  summary: "The OS images of the CVM's node that suit it, newest version first",
  tag: 'Configuration',
  auth: 'apiKey',
  resolve: 'cvm',
  params: cvmIdParams,
  success: { status: 200, description: 'Images by version, production and dev', json: availableOsImagesSchema },
  phalaSchema: 'GetAvailableOSImagesResponseSchema',
});

export const updatePreLaunchScript = defineEndpoint({
  ...change,
  id: 'updatePreLaunchScript',
  method: 'PATCH',
  path: '/api/v1/cvms/{id}/pre-launch-script',
  summary: 'Replace the pre-launch script (an empty body removes it)',
  headers: onChainConfirmationHeadersSchema,
  body: { text: { types: ['text/plain'], description: 'the script' }, optional: true },
  success: accepted,
  errors: { ...CHANGE_ERRORS, ...CONFIRM_ERRORS },
  phalaSchema: 'UpdatePreLaunchScriptResultSchema',
});

export const updateDockerCompose = defineEndpoint({
  ...change,
  id: 'updateDockerCompose',
  method: 'PATCH',
  path: '/api/v1/cvms/{id}/docker-compose',
  summary: 'Replace the docker-compose YAML',
  headers: onChainConfirmationHeadersSchema,
  body: { text: { types: ['text/yaml', 'application/yaml', 'application/x-yaml', 'text/plain'], description: 'docker-compose.yml' } },
  success: accepted,
  errors: { ...CHANGE_ERRORS, ...CONFIRM_ERRORS },
  phalaSchema: 'UpdateDockerComposeResultSchema',
});

export const updateCvmEnvs = defineEndpoint({
  ...change,
  id: 'updateCvmEnvs',
  method: 'PATCH',
  path: '/api/v1/cvms/{id}/envs',
  summary: 'Replace the sealed env as a whole (keys left out are gone)',
  description: 'With `env_keys`, the compose\'s `allowed_envs` becomes exactly those keys (`allowed_envs_changed`).',
  body: { json: envsPatchSchema },
  success: accepted,
  errors: { ...CHANGE_ERRORS, ...CONFIRM_ERRORS },
  phalaSchema: 'UpdateCvmEnvsResultSchema',
});

export const upgradeCvmCompose = defineEndpoint({
  ...change,
  id: 'upgradeCvmCompose',
  method: 'PUT',
  path: '/api/v1/cvms/{id}/compose',
  summary: "The deprecated `phala cvms upgrade`: a new docker-compose YAML and/or sealed env",
  body: { json: legacyComposeSchema },
  success: { status: 202, description: 'Accepted', json: legacyUpgradeAcceptedSchema },
});

export const provisionCvmComposeFileUpdate = defineEndpoint({
  ...change,
  id: 'provisionCvmComposeFileUpdate',
  method: 'POST',
  path: '/api/v1/cvms/{id}/compose_file/provision',
  summary: 'Phase one of a compose update: validate and hash the new app-compose, kept 14 days',
  description: 'On-chain KMS: `kms_info` names the chain, and `compose_hash_registered` says whether the app\'s contract allows the hash already (then commit at once; otherwise `addComposeHash` first).',
  body: { json: composeProvisionSchema },
  success: { status: 200, description: 'The new compose hash', json: composeProvisionResultSchema },
  phalaSchema: 'ProvisionCvmComposeFileUpdateResultSchema',
});

export const commitCvmComposeFileUpdate = defineEndpoint({
  ...change,
  id: 'commitCvmComposeFileUpdate',
  method: 'PATCH',
  path: '/api/v1/cvms/{id}/compose_file',
  summary: 'Phase two of a compose update: apply a provisioned compose (and an optional new sealed env)',
  body: { json: composeCommitSchema },
  success: accepted,
  errors: { ...CHANGE_ERRORS, 400: [...CHANGE_ERRORS[400], E.HASH_INVALID_OR_EXPIRED], ...PROOF_ERRORS },
});

export const commitCvmComposeFile = defineEndpoint({
  ...change,
  id: 'commitCvmComposeFile',
  method: 'POST',
  path: '/api/v1/cvms/{id}/compose_file/commit',
  summary: 'Phase two of a compose update (the same as PATCH /cvms/{id}/compose_file)',
  body: { json: composeCommitSchema },
  success: accepted,
  errors: { ...CHANGE_ERRORS, 400: [...CHANGE_ERRORS[400], E.HASH_INVALID_OR_EXPIRED], ...PROOF_ERRORS },
});

const app = { tag: 'Apps', auth: 'apiKey', resolve: 'app' } as const satisfies Partial<Endpoint>;

export const getAppRevisions = defineEndpoint({
  ...app,
  id: 'getAppRevisions',
  method: 'GET',
  path: '/api/v1/apps/{app_id}/revisions',
  summary: "The app's revisions, newest first: every change that moved its compose hash, and each deploy",
  params: appIdParams,
  query: revisionsQuerySchema,
  success: { status: 200, description: 'The page', json: revisionPageSchema },
  phalaSchema: 'AppRevisionsResponseSchema',
});

export const getAppRevisionDetail = defineEndpoint({
  ...app,
  id: 'getAppRevisionDetail',
  method: 'GET',
  path: '/api/v1/apps/{app_id}/revisions/{revision_id}',
  summary: 'One revision with what it deployed',
  params: revisionParams,
  query: revisionQuerySchema,
  success: { status: 200, description: 'The revision', json: revisionDetailSchema },
  phalaSchema: 'AppRevisionDetailResponseSchema',
});

export const rollbackAppRevision = defineEndpoint({
  ...app,
  id: 'rollbackAppRevision',
  method: 'POST',
  path: '/api/v1/apps/{app_id}/revisions/{revision_id}/rollback',
  summary: "Redeploy a revision's compose, sealed env and user config (on its CVM, or `cvm_id` of the same app)",
  description: "opencvm's earlier path, kept: Phala Cloud's are `POST /apps/{app_id}/revisions/{revision_id}/redeploy` and `POST /cvms/{id}/revisions/{revision_id}/redeploy`, which do the same.",
  extension: true,
  params: revisionParams,
  body: { json: rollbackBodySchema, optional: true },
  success: accepted,
  errors: CHANGE_ERRORS,
});

