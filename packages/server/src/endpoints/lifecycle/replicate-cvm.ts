import { replicateCvm } from '@opencvm/contract';
import { vmShape } from '@opencvm/core';
import { route } from '../../http/endpoint.ts';
import { rejectPrepareOnly } from '../../http/prepare-only.ts';

export default route(replicateCvm, async ({ services, principal, cvm, headers, body }) => {
  rejectPrepareOnly(headers);
  return vmShape(await services.lifecycle.replicate(principal, cvm, body));
});
