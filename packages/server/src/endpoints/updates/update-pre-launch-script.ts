import { updatePreLaunchScript } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';
import { accepted, rejectOnChainConfirmation } from '../../http/updates.ts';

export default route(updatePreLaunchScript, async ({ services, principal, cvm, headers, body }) => {
  rejectOnChainConfirmation(headers);
  return accepted(await services.updates.preLaunchScript(principal, cvm, body));
});
