import { commitCvmReplica } from '@opencvm/contract';
import { vmAnswer } from '@opencvm/core';
import { route } from '../../http/endpoint.ts';

/** The `phala` CLI's `cvms replicate` commit: make an on-chain KMS replica kept under its token. */
export default route(commitCvmReplica, async ({ services, principal, version, cvm, body }) =>
  vmAnswer(await services.lifecycle.commitReplica(principal, cvm, body), version),
);
