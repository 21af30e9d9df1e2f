import { updateDockerCompose } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';
import { acceptedInProgress, confirmationHeaders } from '../../http/updates.ts';

export default route(updateDockerCompose, async ({ services, principal, cvm, headers, body }) =>
  acceptedInProgress(await services.updates.dockerCompose(principal, cvm, body, confirmationHeaders(headers))),
);
