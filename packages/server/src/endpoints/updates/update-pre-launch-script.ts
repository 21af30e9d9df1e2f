import { updatePreLaunchScript } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';
import { acceptedInProgress, confirmationHeaders } from '../../http/updates.ts';

export default route(updatePreLaunchScript, async ({ services, principal, cvm, headers, body }) =>
  acceptedInProgress(await services.updates.preLaunchScript(principal, cvm, body, confirmationHeaders(headers))),
);
