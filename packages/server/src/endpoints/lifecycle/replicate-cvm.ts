import { replicateCvm } from '@opencvm/contract';
import { vmShape } from '@opencvm/core';
import { route } from '../../http/endpoint.ts';
import { prepareOnlyOf } from '../../http/prepare-only.ts';

export default route(replicateCvm, async ({ services, principal, cvm, headers, body }) =>
  vmShape(await services.lifecycle.replicate(principal, cvm, body, prepareOnlyOf(headers))),
);
