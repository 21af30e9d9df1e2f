import { replicateCvm } from '@opencvm/contract';
import { vmAnswer } from '@opencvm/core';
import { route } from '../../http/endpoint.ts';
import { prepareOnlyOf } from '../../http/prepare-only.ts';

export default route(replicateCvm, async ({ services, principal, version, cvm, headers, body }) =>
  vmAnswer(await services.lifecycle.replicate(principal, cvm, body, prepareOnlyOf(headers)), version),
);
