import { stopCvm } from '@opencvm/contract';
import { vmShape } from '@opencvm/core';
import { route } from '../../http/endpoint.ts';

export default route(stopCvm, async ({ services, principal, cvm }) => vmShape(await services.lifecycle.act(principal, cvm, 'stop')));
