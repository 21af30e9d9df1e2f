/** `X-Prepare-Only` on the lifecycle calls that take it: on-chain KMS only, which this server does not offer yet. */
import { ApiError, ErrorCodes } from '@opencvm/core';

export function rejectPrepareOnly(headers: { 'x-prepare-only'?: string }): void {
  if (String(headers['x-prepare-only'] ?? '').toLowerCase() === 'true') {
    throw new ApiError(400, ErrorCodes.INVALID_REQUEST,
      'X-Prepare-Only is for on-chain KMS replicas, which this server does not offer yet: send the request without it.');
  }
}
