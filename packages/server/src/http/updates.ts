/** What every update endpoint shares: the "accepted" answer, and the on-chain confirmation headers. */
import { confirmationOf, type Confirmation, type SubmitResult } from '../services/updates.ts';

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

/**
 * `X-Compose-Hash` + `X-Transaction-Hash`: the confirmation of an on-chain KMS update whose compose hash the
 * app's contract now allows (null when neither is sent).
 */
export function confirmationHeaders(headers: { 'x-compose-hash'?: string; 'x-transaction-hash'?: string }): Confirmation | null {
  return confirmationOf(headers['x-compose-hash'], headers['x-transaction-hash'], 'X-Compose-Hash and X-Transaction-Hash');
}
