import { startCvm } from '@opencvm/contract';
import { vmAnswer } from '@opencvm/core';
import { route } from '../../http/endpoint.ts';

export default route(startCvm, async ({ services, principal, version, cvm }) => vmAnswer(await services.lifecycle.act(principal, cvm, 'start'), version));
