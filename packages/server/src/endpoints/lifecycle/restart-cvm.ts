import { restartCvm } from '@opencvm/contract';
import { vmAnswer } from '@opencvm/core';
import { route } from '../../http/endpoint.ts';

export default route(restartCvm, async ({ services, principal, version, cvm, body }) =>
  vmAnswer(await services.lifecycle.act(principal, cvm, 'restart', { force: body?.force ?? false }), version),
);
