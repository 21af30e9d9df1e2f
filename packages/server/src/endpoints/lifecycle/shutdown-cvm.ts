import { shutdownCvm } from '@opencvm/contract';
import { vmShape } from '@opencvm/core';
import { route } from '../../http/endpoint.ts';

export default route(shutdownCvm, async ({ services, principal, cvm }) => vmShape(await services.lifecycle.act(principal, cvm, 'shutdown')));
