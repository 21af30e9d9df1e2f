import { createAppInstance } from '@opencvm/contract';
import { vmShape } from '@opencvm/core';
import { route } from '../../http/endpoint.ts';
import { rejectPrepareOnly } from '../../http/prepare-only.ts';

export default route(createAppInstance, async ({ services, principal, app, headers, body }) => {
  rejectPrepareOnly(headers);
  return vmShape(await services.lifecycle.addInstance(principal, app, body));
});
