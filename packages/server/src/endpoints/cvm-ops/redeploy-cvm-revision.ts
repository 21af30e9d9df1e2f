import { redeployCvmRevision } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';
import { accepted } from '../../http/updates.ts';

export default route(redeployCvmRevision, async ({ services, principal, cvm, params, query }) =>
  accepted(await services.updates.redeployOnCvm(principal, cvm, params.revision_id, query.transaction_hash)),
);
