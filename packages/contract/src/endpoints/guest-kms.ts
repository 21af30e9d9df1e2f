/**
 * The built-in KMS as dstack guests reach it: pRPC in JSON mode at `/kms/prpc/<Method>` (dstack's
 * `kms/rpc/proto/kms_rpc.proto`). Guests append `/prpc` to the KMS URL they are given. An error answers
 * `{"error": message}` as dstack's pRPC does, with the API's error envelope beside it (`detail`).
 */
import { z } from 'zod';
import { defineEndpoint } from '../endpoint.ts';
import { ErrorCodes as E } from '../errors.ts';
import { prpcMethodParams } from './params.ts';

export const callGuestKms = defineEndpoint({
  id: 'callGuestKms',
  method: 'POST',
  path: '/kms/prpc/{method}',
  summary: 'A KMS pRPC call from a guest: GetAppKey, GetAppEnvEncryptPubKey, GetMeta',
  description: '`GetAppKey` releases an app\'s keys only to the host its CVM was placed on (its KMS credential in `Authorization: Bearer`), for the compose hash the CVM runs.',
  tag: 'Guest KMS',
  auth: 'hostToken',
  rateLimit: 'clientIp',
  extension: true,
  params: prpcMethodParams,
  body: { json: z.record(z.string(), z.unknown()).nullish(), optional: true },
  success: { status: 200, description: 'The method\'s answer', json: z.record(z.string(), z.unknown()) },
  errors: { 400: [E.INVALID_REQUEST, E.CVM_ACCESS_DENIED] },
});
