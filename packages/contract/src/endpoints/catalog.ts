/** The catalogue: instance types, OS images, nodes with free capacity, KMS instances, workspaces. */
import { defineEndpoint } from '../endpoint.ts';
import { ErrorCodes as E } from '../errors.ts';
import { kmsListQuerySchema, nextAppIdsQuerySchema, nodesQuerySchema, osImagesQuerySchema, workspacesQuerySchema } from '../requests/reads.ts';
import {
  availableNodesSchema,
  cvmCreateResourcesSchema,
  instanceTypeFamiliesSchema,
  instanceTypeFamilySchema,
  kmsContractNodesSchema,
  kmsContractPageSchema,
  kmsContractSchema,
  kmsPageSchema,
  nextAppIdsSchema,
  osImagePageSchema,
  signedPubkeySchema,
  workspaceListSchema,
  workspaceNodesSchema,
  workspaceQuotasSchema,
  workspaceSchema,
} from '../shapes/catalog.ts';
import { kmsInfoSchema } from '../shapes/common.ts';
import { familyParams, kmsParams, kmsPubkeyParams, slugParams } from './params.ts';

export const listAllInstanceTypeFamilies = defineEndpoint({
  id: 'listAllInstanceTypeFamilies',
  method: 'GET',
  path: '/api/v1/instance-types',
  summary: 'Instance types by family',
  tag: 'Catalog',
  auth: 'apiKey',
  success: { status: 200, description: 'The families', json: instanceTypeFamiliesSchema },
  phalaSchema: 'AllFamiliesResponseSchema',
});

export const listFamilyInstanceTypes = defineEndpoint({
  id: 'listFamilyInstanceTypes',
  method: 'GET',
  path: '/api/v1/instance-types/{family}',
  summary: 'The instance types of one family',
  tag: 'Catalog',
  auth: 'apiKey',
  params: familyParams,
  success: { status: 200, description: 'The family', json: instanceTypeFamilySchema },
  errors: { 404: [E.INSTANCE_TYPE_NOT_FOUND] },
  phalaSchema: 'FamilyInstanceTypesResponseSchema',
});

export const getOsImages = defineEndpoint({
  id: 'getOsImages',
  method: 'GET',
  path: '/api/v1/os-images',
  summary: 'The OS images the nodes have, once per name',
  tag: 'Catalog',
  auth: 'apiKey',
  query: osImagesQuerySchema,
  success: { status: 200, description: 'The page', json: osImagePageSchema },
  phalaSchema: 'GetOsImagesResponseSchema',
});

export const getAvailableNodes = defineEndpoint({
  id: 'getAvailableNodes',
  method: 'GET',
  path: '/api/v1/teepods/available',
  summary: 'Online nodes with their free capacity (-1: not capped) and images, and the KMS instances',
  tag: 'Catalog',
  auth: 'apiKey',
  success: { status: 200, description: 'The nodes', json: availableNodesSchema },
  phalaSchema: 'AvailableNodesSchema',
});

export const getCvmCreateResources = defineEndpoint({
  id: 'getCvmCreateResources',
  method: 'GET',
  path: '/api/v1/teepods/cvm-create-resources',
  summary: 'Everything a CVM can be created with: the workspace tier and limits, nodes, KMS, gateways, instance types, free GPUs',
  description:
    "The Python SDK's `get_cvm_create_resources` (Phala's `CvmCreateResourceGraphV20260121` / `V20260522`, one shape here: " +
    'every id is a string). `nodes` as `GET /teepods/available` answers them; `capacity` the limits `GET /workspaces/{slug}/quotas` ' +
    'counts (null: not capped); `node_kms_relations` which node takes which KMS (an on-chain KMS only on nodes that take on-chain ' +
    "apps); `gateway_nodes` one per node that reports a gateway domain and KMS it takes; `instance_types` the catalogue of " +
    '`GET /instance-types`; `gpu_availability` the GPUs of online, uncordoned nodes that no live CVM holds.',
  tag: 'Catalog',
  auth: 'apiKey',
  success: { status: 200, description: 'The resources', json: cvmCreateResourcesSchema },
});

export const getKmsList = defineEndpoint({
  id: 'getKmsList',
  method: 'GET',
  path: '/api/v1/kms',
  summary: 'The KMS instances (from X-Phala-Version 2026-06-23: the KMS contracts)',
  description:
    'Before 2026-06-23 the KMS nodes (`KmsInfo`); from 2026-06-23 on, as Phala\'s contract-centric KMS API, the KMS contracts (`KmsContract`, the Python SDK\'s `list_kms_contracts`): one per KMS here, with its one node.',
  tag: 'KMS',
  auth: 'apiKey',
  query: kmsListQuerySchema,
  success: { status: 200, description: 'The page', json: { versioned: { '2025-10-28': kmsPageSchema, '2026-01-21': kmsPageSchema, '2026-06-23': kmsContractPageSchema } } },
  phalaSchema: { '2025-10-28': 'GetKmsListSchema', '2026-01-21': 'GetKmsListSchema', '2026-05-22': 'GetKmsListSchema' },
});

export const getKmsInfo = defineEndpoint({
  id: 'getKmsInfo',
  method: 'GET',
  path: '/api/v1/kms/{kms}',
  summary: 'One KMS, by id, slug or type (from X-Phala-Version 2026-06-23: its KMS contract)',
  description: "Before 2026-06-23 the KMS node (`KmsInfo`); from 2026-06-23 on its KMS contract (`KmsContract`, the Python SDK's `get_kms_contract`).",
  tag: 'KMS',
  auth: 'apiKey',
  params: kmsParams,
  success: { status: 200, description: 'The KMS', json: { versioned: { '2025-10-28': kmsInfoSchema, '2026-01-21': kmsInfoSchema, '2026-06-23': kmsContractSchema } } },
  errors: { 404: [E.KMS_NOT_FOUND] },
  phalaSchema: { '2025-10-28': 'KmsInfoSchema', '2026-01-21': 'KmsInfoSchema', '2026-05-22': 'KmsInfoSchema' },
});

export const listKmsContractNodes = defineEndpoint({
  id: 'listKmsContractNodes',
  method: 'GET',
  path: '/api/v1/kms/{kms}/nodes',
  summary: "The KMS nodes of a KMS contract, with their RPC url (the Python SDK's `list_kms_contract_nodes`)",
  description: 'Each KMS here is one contract with one node: this server\'s key service.',
  tag: 'KMS',
  auth: 'apiKey',
  params: kmsParams,
  success: { status: 200, description: 'The nodes', json: kmsContractNodesSchema },
  errors: { 404: [E.KMS_NOT_FOUND] },
});

export const getAppEnvEncryptPubKey = defineEndpoint({
  id: 'getAppEnvEncryptPubKey',
  method: 'GET',
  path: '/api/v1/kms/{kms}/pubkey/{app_id}',
  summary: "An app's env-encryption key, signed by the KMS",
  tag: 'KMS',
  auth: 'apiKey',
  params: kmsPubkeyParams,
  success: { status: 200, description: 'The key and its signature', json: signedPubkeySchema },
  errors: { 400: [E.INVALID_REQUEST, E.KMS_NOT_FOUND], 404: [E.KMS_NOT_FOUND] },
  phalaSchema: 'GetAppEnvEncryptPubKeySchema',
});

export const nextAppIds = defineEndpoint({
  id: 'nextAppIds',
  method: 'GET',
  path: '/api/v1/kms/phala/next_app_id',
  summary: "The PHALA-KMS app ids the workspace's next provisions would get",
  description:
    "The workspace deployer's CREATE addresses at its next nonces, in order. Nothing is reserved: pass one with its nonce " +
    'to `POST /cvms/provision` (`app_id` + `nonce`) to deploy under that id; a nonce already used is refused there.',
  tag: 'KMS',
  auth: 'apiKey',
  query: nextAppIdsQuerySchema,
  success: { status: 200, description: 'The app ids and their nonces', json: nextAppIdsSchema },
  phalaSchema: 'NextAppIdsSchema',
});

export const listWorkspaces = defineEndpoint({
  id: 'listWorkspaces',
  method: 'GET',
  path: '/api/v1/workspaces',
  summary: "The caller's workspaces",
  tag: 'Workspaces',
  auth: 'apiKey',
  query: workspacesQuerySchema,
  success: { status: 200, description: 'A cursor page', json: workspaceListSchema },
  phalaSchema: 'ListWorkspacesSchema',
});

export const getWorkspace = defineEndpoint({
  id: 'getWorkspace',
  method: 'GET',
  path: '/api/v1/workspaces/{slug}',
  summary: 'One of the caller\'s workspaces',
  tag: 'Workspaces',
  auth: 'apiKey',
  params: slugParams,
  success: { status: 200, description: 'The workspace', json: workspaceSchema },
  errors: { 404: [E.WORKSPACE_NOT_FOUND] },
  phalaSchema: 'WorkspaceResponseSchema',
});

export const getWorkspaceNodes = defineEndpoint({
  id: 'getWorkspaceNodes',
  method: 'GET',
  path: '/api/v1/workspaces/{slug}/nodes',
  summary: 'The nodes the workspace can deploy to',
  tag: 'Workspaces',
  auth: 'apiKey',
  params: slugParams,
  query: nodesQuerySchema,
  success: { status: 200, description: 'The page', json: workspaceNodesSchema },
  errors: { 404: [E.WORKSPACE_NOT_FOUND] },
  phalaSchema: 'GetWorkspaceNodesSchema',
});

export const getWorkspaceQuotas = defineEndpoint({
  id: 'getWorkspaceQuotas',
  method: 'GET',
  path: '/api/v1/workspaces/{slug}/quotas',
  summary: 'What the workspace can still place (a self-hosted workspace is limited by its online nodes)',
  tag: 'Workspaces',
  auth: 'apiKey',
  params: slugParams,
  success: { status: 200, description: 'The quotas', json: workspaceQuotasSchema },
  errors: { 404: [E.WORKSPACE_NOT_FOUND] },
  phalaSchema: 'GetWorkspaceQuotasSchema',
});
