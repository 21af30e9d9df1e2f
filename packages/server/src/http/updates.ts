/** What every update endpoint shares: the "accepted" answer, and refusing on-chain confirmation headers. */
import { ApiError, ErrorCodes } from '@opencvm/core';
import type { SubmitResult } from '../services/updates.ts';

/** The body every "update accepted" answer has (the official SDK reads `status`, `message`, `correlation_id`; envs also `allowed_envs_changed`). */
export function accepted(r: SubmitResult) {
  return { status: r.status, message: r.message, correlation_id: r.correlation_id, compose_hash: r.compose_hash, allowed_envs_changed: r.allowed_envs_changed };
}

/**
 * The official SDK's `updateCvmEnvs`, `updateDockerCompose` and `updatePreLaunchScript` accept `status: "in_progress"`
 * only (or an on-chain `precondition_required`): for them an unchanged answer keeps that word, with the correlation id
 * of the operation that already succeeded and a message saying nothing changed.
 */
export function acceptedInProgress(r: SubmitResult) {
  return { ...accepted(r), status: r.status === 'unchanged' ? ('in_progress' as const) : r.status };
}

/** Confirmation headers complete an on-chain KMS update; a PHALA KMS CVM never needs them. */
export function rejectOnChainConfirmation(headers: { 'x-compose-hash'?: string; 'x-transaction-hash'?: string }): void {
  if (headers['x-compose-hash']?.trim() || headers['x-transaction-hash']?.trim()) {
    throw new ApiError(400, ErrorCodes.INVALID_REQUEST,
      'X-Compose-Hash / X-Transaction-Hash confirm an on-chain KMS update; this server offers PHALA KMS only, whose updates are applied without confirmation. Send the change without these headers.');
  }
}
