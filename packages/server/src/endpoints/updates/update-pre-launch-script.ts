import { updatePreLaunchScript } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';
import { acceptedInProgress, rejectOnChainConfirmation } from '../../http/updates.ts';

export default route(updatePreLaunchScript, async ({ services, principal, cvm, headers, body }) => {
  rejectOnChainConfirmation(headers);
  return acceptedInProgress(await services.updates.preLaunchScript(principal, cvm, body));
});
