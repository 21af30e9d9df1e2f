/**
 * What the chain (ETHEREUM, BASE KMS) or the database (PHALA KMS) allows: the KMS contract's allow-lists, an
 * app's device allow-list, and whether an app may boot a compose hash on a device.
 */
import { z } from 'zod';
import { defineEndpoint } from '../endpoint.ts';
import { ErrorCodes as E } from '../errors.ts';
import { appCvmsIsAllowedBodySchema, appIsAllowedBodySchema, cvmIsAllowedBodySchema } from '../requests/allowlists.ts';
import { appCvmsIsAllowedSchema, deviceAllowlistSchema, isAllowedSchema, kmsOnChainDetailSchema } from '../shapes/allowlists.ts';
import { appIdParams, cvmIdParams } from './params.ts';

const CHAIN_DOWN = { 503: [E.CHAIN_UNAVAILABLE] } as const;

export const getKmsOnChainDetail = defineEndpoint({
  id: 'getKmsOnChainDetail',
  method: 'GET',
  path: '/api/v1/kms/on-chain/{chain}',
  summary: "An on-chain KMS's contract, read from its chain: which of the nodes' devices and OS images it allows",
  description:
    '`chain` is `ethereum` or `base` (any case), as the server is configured. `devices`: every node with a device id, `on_chain_allowed` = the KMS contract\'s `kmsAllowedDeviceIds` (dstack\'s list of the devices a KMS instance may run on; the devices an app may boot on are in the app\'s own contract: `GET /apps/{app_id}/device-allowlist`). `os_images`: the OS images the nodes have, `on_chain_allowed` = `allowedOsImages` (null for an image without a hash).',
  tag: 'KMS',
  auth: 'apiKey',
  params: z.object({ chain: z.string().min(1, 'chain must not be empty').max(20, 'chain is at most 20 characters') }),
  success: { status: 200, description: 'The contract and what it allows', json: kmsOnChainDetailSchema },
  errors: { 400: [E.KMS_NOT_FOUND], ...CHAIN_DOWN },
  phalaSchema: 'GetKmsOnChainDetailResponseSchema',
});

export const getAppDeviceAllowlist = defineEndpoint({
  id: 'getAppDeviceAllowlist',
  method: 'GET',
  path: '/api/v1/apps/{app_id}/device-allowlist',
  summary: "The devices an app may boot on: its contract's allow-list (on-chain KMS) or this server's nodes (PHALA KMS)",
  description:
    'On-chain KMS: read from the app\'s contract (`allowAnyDevice`, `allowedDeviceIds`); `devices` are the nodes\' devices the contract allows and those of the nodes the app\'s live CVMs are on, `status` `allowed` when the contract lists the device. PHALA KMS: the app may boot on any of this server\'s nodes (`devices`: each node, `allowed`).',
  tag: 'Apps',
  auth: 'apiKey',
  resolve: 'app',
  params: appIdParams,
  success: { status: 200, description: 'The allow-list', json: deviceAllowlistSchema },
  errors: { 400: [E.KMS_NOT_FOUND], ...CHAIN_DOWN },
});

const IS_ALLOWED_ERRORS = { 400: [E.KMS_NOT_FOUND, E.INVALID_REQUEST, E.NODE_NOT_FOUND], ...CHAIN_DOWN } as const;

export const checkCvmIsAllowed = defineEndpoint({
  id: 'checkCvmIsAllowed',
  method: 'POST',
  path: '/api/v1/cvms/{id}/is-allowed',
  summary: "Whether a CVM's app may boot a compose hash on a device (by default the CVM's own, on its node)",
  description:
    'On-chain KMS: asked of the chain (the app registered in the KMS contract, its contract\'s `allowedComposeHashes`, `allowAnyDevice`, `allowedDeviceIds`). PHALA KMS: from this server\'s records (a compose hash the app has run or provisioned; any device of this server\'s nodes). `node_id` stands for that node\'s device.',
  tag: 'Apps',
  auth: 'apiKey',
  resolve: 'cvm',
  params: cvmIdParams,
  body: { json: cvmIsAllowedBodySchema, optional: true },
  success: { status: 200, description: 'The verdict and its parts', json: isAllowedSchema },
  errors: IS_ALLOWED_ERRORS,
  phalaSchema: 'IsAllowedResultSchema',
});

export const checkAppIsAllowed = defineEndpoint({
  id: 'checkAppIsAllowed',
  method: 'POST',
  path: '/api/v1/apps/{app_id}/is-allowed',
  summary: 'Whether an app may boot a compose hash (on a node or device, if given)',
  description:
    'As `POST /cvms/{id}/is-allowed`. Without `node_id` or `device_id` no device is checked (`device_id` is empty, `device_id_allowed` null). `chain_id`, if given, must be the app\'s chain.',
  tag: 'Apps',
  auth: 'apiKey',
  resolve: 'app',
  params: appIdParams,
  body: { json: appIsAllowedBodySchema },
  success: { status: 200, description: 'The verdict and its parts', json: isAllowedSchema },
  errors: IS_ALLOWED_ERRORS,
  phalaSchema: 'IsAllowedResultSchema',
});

export const checkAppCvmsIsAllowed = defineEndpoint({
  id: 'checkAppCvmsIsAllowed',
  method: 'POST',
  path: '/api/v1/apps/{app_id}/cvms/is-allowed',
  summary: "Whether each live CVM of an app may boot its compose hash on its node's device",
  tag: 'Apps',
  auth: 'apiKey',
  resolve: 'app',
  params: appIdParams,
  body: { json: appCvmsIsAllowedBodySchema, optional: true },
  success: { status: 200, description: 'One verdict per CVM, and the counts', json: appCvmsIsAllowedSchema },
  errors: { 400: [E.KMS_NOT_FOUND], ...CHAIN_DOWN },
  phalaSchema: 'AppCvmsBatchIsAllowedResponseSchema',
});
