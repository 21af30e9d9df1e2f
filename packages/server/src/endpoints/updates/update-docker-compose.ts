import { updateDockerCompose } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';
import { accepted, rejectOnChainConfirmation } from '../../http/updates.ts';

export default route(updateDockerCompose, async ({ services, principal, cvm, headers, body }) => {
  rejectOnChainConfirmation(headers);
  return accepted(await services.updates.dockerCompose(principal, cvm, body));
});
