import { patchCvm } from '@opencvm/contract';
import { ApiError, ErrorCodes } from '@opencvm/core';
import { route } from '../../http/endpoint.ts';
import { prepareOnlyOf } from '../../http/prepare-only.ts';
import { accepted, confirmationHeaders } from '../../http/updates.ts';

/**
 * `patchCvm` (a change; with `X-Prepare-Only: true` kept under a commit token, answered 465) and `confirmCvmPatch`
 * (`X-Compose-Hash` + `X-Transaction-Hash`: apply what a 465 kept, once the chain allows the hash).
 */
export default route(patchCvm, async ({ services, principal, cvm, headers, body }) => {
  const prepareOnly = prepareOnlyOf(headers);
  const confirmation = confirmationHeaders(headers);
  if (confirmation) {
    if (prepareOnly) {
      throw new ApiError(400, ErrorCodes.INVALID_REQUEST, 'X-Prepare-Only prepares a change; X-Compose-Hash with X-Transaction-Hash confirms one: send one or the other.');
    }
    return accepted(await services.updates.confirmPatch(principal, cvm, body, confirmation));
  }
  return accepted(await services.updates.patch(principal, cvm, body, prepareOnly));
});
