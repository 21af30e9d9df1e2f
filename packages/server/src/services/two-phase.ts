/**
 * The HTTP 465 answer of a change that is kept, not applied: a prepare-only request, or (on-chain KMS) a compose
 * hash or device the app's contract must allow first. Its `details` are what the official SDK's `patchCvm` and
 * single-purpose updates, and the `phala` CLI's replicate and `instances add`, read: `compose_hash`, `app_id`,
 * `device_id`, `kms_info` (a full KmsInfo), `commit_token`, `commit_url`, `api_commit_url`, `expires_at` and,
 * on-chain, `onchain_status`.
 */
import { ApiError, ErrorCodes, kmsInfo, type CvmView } from '@opencvm/core';

/** What an on-chain KMS app's contract said about a compose hash and a device. */
export interface OnChainStatus {
  composeHashAllowed: boolean;
  deviceAllowed: boolean;
}

export interface KeptChange {
  /** the CVM it was asked of (its app and KMS) */
  cvm: Pick<CvmView, 'app_id' | 'kms'>;
  composeHash: string;
  deviceId: string;
  token: string;
  expires: Date;
  /** where the commit is POSTed */
  commitUrl: string;
  message: string;
  onChain: OnChainStatus | null;
}

export function keptChangeAnswer(k: KeptChange): ApiError {
  return new ApiError(465, ErrorCodes.HASH_REGISTRATION_REQUIRED, k.message, {
    details: [
      { field: 'compose_hash', value: k.composeHash },
      { field: 'app_id', value: k.cvm.app_id },
      { field: 'device_id', value: k.deviceId },
      { field: 'kms_info', value: kmsInfo(k.cvm.kms) },
      { field: 'commit_token', value: k.token },
      { field: 'commit_url', value: k.commitUrl },
      { field: 'api_commit_url', value: k.commitUrl },
      { field: 'expires_at', value: k.expires.toISOString() },
      ...(k.onChain
        ? [{
            field: 'onchain_status',
            value: {
              compose_hash_allowed: k.onChain.composeHashAllowed,
              device_id_allowed: k.onChain.deviceAllowed,
              is_allowed: k.onChain.composeHashAllowed && k.onChain.deviceAllowed,
            },
          }]
        : []),
    ],
  });
}

/** The words naming an on-chain KMS app's chain in messages: `the ETHEREUM chain (id 1)`. */
export const chainName = (cvm: Pick<CvmView, 'kms'>) => `the ${cvm.kms.kms_type.toUpperCase()} chain (id ${cvm.kms.chain_id})`;
