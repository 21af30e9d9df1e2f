import { createAppInstance } from '@opencvm/contract';
import { vmShape } from '@opencvm/core';
import { route } from '../../http/endpoint.ts';
import { prepareOnlyOf } from '../../http/prepare-only.ts';

export default route(createAppInstance, async ({ services, principal, app, headers, body }) =>
  vmShape(await services.lifecycle.addInstance(principal, app, body, prepareOnlyOf(headers))),
);
