import { restartCvm } from '@opencvm/contract';
import { vmShape } from '@opencvm/core';
import { route } from '../../http/endpoint.ts';

export default route(restartCvm, async ({ services, principal, cvm, body }) =>
  vmShape(await services.lifecycle.act(principal, cvm, 'restart', { force: body?.force ?? false })),
);
