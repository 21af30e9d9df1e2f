import { commitCvmProvision } from '@opencvm/contract';
import { commitAnswer } from '@opencvm/core';
import { route } from '../../http/endpoint.ts';

export default route(commitCvmProvision, async ({ services, principal, version, body }) =>
  commitAnswer(await services.deploy.commit(principal, body), version),
);
