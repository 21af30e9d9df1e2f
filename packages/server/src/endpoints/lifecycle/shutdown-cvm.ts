import { shutdownCvm } from '@opencvm/contract';
import { vmAnswer } from '@opencvm/core';
import { route } from '../../http/endpoint.ts';

export default route(shutdownCvm, async ({ services, principal, version, cvm }) => vmAnswer(await services.lifecycle.act(principal, cvm, 'shutdown'), version));
