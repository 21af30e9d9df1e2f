import { stopCvm } from '@opencvm/contract';
import { vmAnswer } from '@opencvm/core';
import { route } from '../../http/endpoint.ts';

export default route(stopCvm, async ({ services, principal, version, cvm }) => vmAnswer(await services.lifecycle.act(principal, cvm, 'stop'), version));
