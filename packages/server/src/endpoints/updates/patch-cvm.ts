import { patchCvm } from '@opencvm/contract';
import { ApiError, ErrorCodes, kmsInfo } from '@opencvm/core';
import { route } from '../../http/endpoint.ts';
import { accepted, rejectOnChainConfirmation } from '../../http/updates.ts';
import type { PreparedResult } from '../../services/updates.ts';

export default route(patchCvm, async ({ services, principal, cvm, headers, body }) => {
  rejectOnChainConfirmation(headers);
  const prepareOnly = headers['x-prepare-only']?.trim().toLowerCase() === 'true';
  const r = await services.updates.patch(principal, cvm, body, prepareOnly);
  if ('prepared' in r) throw preparedAnswer(r, services.publicUrl());
  return accepted(r);
});

/**
 * A prepare-only PATCH answers as the official SDK expects a two-phase one to (HTTP 465 with `details`), so
 * `patchCvm({prepareOnly})` returns `{requiresOnChainHash: true, commitToken, ...}`. Nothing has changed;
 * `POST /cvms/{id}/commit-update` with the token applies it, once, within 14 days.
 */
function preparedAnswer(r: PreparedResult, publicUrl: string): ApiError {
  const cvm = r.cvm;
  const apiCommitUrl = `${publicUrl}/api/v1/cvms/${cvm.vm_uuid}/commit-update`;
  return new ApiError(465, ErrorCodes.HASH_REGISTRATION_REQUIRED,
    `Prepared, not applied: commit it with POST /cvms/${cvm.vm_uuid}/commit-update and the commit_token before ${r.expires_at.toISOString()}. The token works once.`,
    {
      details: [
        { field: 'compose_hash', value: r.compose_hash },
        { field: 'app_id', value: cvm.app_id },
        { field: 'device_id', value: cvm.node.device_id },
        { field: 'kms_info', value: kmsInfo(cvm.kms) },
        { field: 'commit_token', value: r.commit_token },
        { field: 'commit_url', value: apiCommitUrl },
        { field: 'api_commit_url', value: apiCommitUrl },
        { field: 'expires_at', value: r.expires_at.toISOString() },
      ],
    });
}
