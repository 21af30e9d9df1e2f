import { commitCvmReplica } from '@opencvm/contract';
import { vmShape } from '@opencvm/core';
import { route } from '../../http/endpoint.ts';

/** The `phala` CLI's `cvms replicate` commit: make an on-chain KMS replica kept under its token. */
export default route(commitCvmReplica, async ({ services, principal, cvm, body }) =>
  vmShape(await services.lifecycle.commitReplica(principal, cvm, body)),
);
