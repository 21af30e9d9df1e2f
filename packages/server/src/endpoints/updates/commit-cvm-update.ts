import { commitCvmUpdate } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';
import { accepted } from '../../http/updates.ts';

export default route(commitCvmUpdate, async ({ services, principal, cvm, body }) =>
  accepted(await services.updates.commitPrepared(principal, cvm, body.token, body.compose_hash, body.transaction_hash)),
);
