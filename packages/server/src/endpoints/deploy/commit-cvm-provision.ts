import { commitCvmProvision } from '@opencvm/contract';
import { commitShape } from '@opencvm/core';
import { route } from '../../http/endpoint.ts';

export default route(commitCvmProvision, async ({ services, principal, body }) => commitShape(await services.deploy.commit(principal, body)));
