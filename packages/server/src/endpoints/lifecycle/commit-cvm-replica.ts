import { commitCvmReplica } from '@opencvm/contract';
import { ApiError, ErrorCodes } from '@opencvm/core';
import { route } from '../../http/endpoint.ts';

export default route(commitCvmReplica, async () => {
  throw new ApiError(400, ErrorCodes.INVALID_REQUEST,
    'commit-replica completes an on-chain KMS replica after its compose hash is registered; this server has no on-chain KMS yet. For PHALA KMS apps, POST /cvms/{id}/replicas creates the replica directly.');
});
