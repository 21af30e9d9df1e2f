import { updateDockerCompose } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';
import { acceptedInProgress, rejectOnChainConfirmation } from '../../http/updates.ts';

export default route(updateDockerCompose, async ({ services, principal, cvm, headers, body }) => {
  rejectOnChainConfirmation(headers);
  return acceptedInProgress(await services.updates.dockerCompose(principal, cvm, body));
});
