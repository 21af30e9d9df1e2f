/**
 * dstack-kms's auth webhook (`[core.auth_api] type = "webhook"` in its `kms.toml`), answered from the KMS contract
 * of a chain this server is configured with, as dstack's `kms/auth-eth` answers it. One prefix per KMS type, so
 * one server serves ETHEREUM and BASE: `webhook.url = "<server>/kms-auth/ethereum"`. No API key: dstack-kms sends
 * none, and the answers only repeat what the chain says to anyone.
 */
import { z } from 'zod';
import { defineEndpoint } from '../endpoint.ts';
import { ErrorCodes as E } from '../errors.ts';
import { bootInfoSchema } from '../requests/kms-auth.ts';
import { authInfoSchema, bootResponseSchema } from '../shapes/kms-auth.ts';

const kmsTypeParams = z.object({
  kms_type: z.string().min(1).max(20).meta({ description: 'the on-chain KMS type: ethereum or base' }),
});

const verdict = (what: string) =>
  `${what} A chain that does not answer is \`isAllowed: false\` with reason \`authorization backend unavailable\` (HTTP 200, as auth-eth answers), never an allow. ` +
  'A body that is not a BootInfo is a 400.';

export const getKmsAuthInfo = defineEndpoint({
  id: 'getKmsAuthInfo',
  method: 'GET',
  path: '/kms-auth/{kms_type}/',
  summary: "dstack-kms's auth webhook: the KMS contract, its gateway app id and app implementation",
  description: 'What dstack-kms reads at `GET <webhook url>/` (its `GetMeta`). The RPC URL is not given: it may carry a provider key.',
  tag: 'KMS auth webhook',
  auth: 'public',
  rateLimit: 'clientIp',
  extension: true,
  params: kmsTypeParams,
  success: { status: 200, description: 'The authority', json: authInfoSchema },
  errors: { 404: [E.KMS_NOT_FOUND], 503: [E.CHAIN_UNAVAILABLE] },
});

export const checkAppBootAuth = defineEndpoint({
  id: 'checkAppBootAuth',
  method: 'POST',
  path: '/kms-auth/{kms_type}/bootAuth/app',
  summary: "dstack-kms's auth webhook: may this app boot (and get its keys)?",
  description: verdict("The KMS contract's `isAppAllowed(AppBootInfo)`: the app registered, the OS image allowed, then the app contract's answer (compose hash, device, TCB)."),
  tag: 'KMS auth webhook',
  auth: 'public',
  rateLimit: 'clientIp',
  extension: true,
  params: kmsTypeParams,
  body: { json: bootInfoSchema },
  invalidRequestStatus: 400,
  success: { status: 200, description: 'The verdict', json: bootResponseSchema },
  errors: { 400: [E.INVALID_REQUEST], 404: [E.KMS_NOT_FOUND] },
});

export const checkKmsBootAuth = defineEndpoint({
  id: 'checkKmsBootAuth',
  method: 'POST',
  path: '/kms-auth/{kms_type}/bootAuth/kms',
  summary: "dstack-kms's auth webhook: may this KMS instance boot (self-check, onboarding, key replication)?",
  description: verdict("The KMS contract's `isKmsAllowed(AppBootInfo)`: TCB up to date, OS image, aggregated MR and device allowed."),
  tag: 'KMS auth webhook',
  auth: 'public',
  rateLimit: 'clientIp',
  extension: true,
  params: kmsTypeParams,
  body: { json: bootInfoSchema },
  invalidRequestStatus: 400,
  success: { status: 200, description: 'The verdict', json: bootResponseSchema },
  errors: { 400: [E.INVALID_REQUEST], 404: [E.KMS_NOT_FOUND] },
});
