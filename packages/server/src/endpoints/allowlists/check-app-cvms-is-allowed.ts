import { checkAppCvmsIsAllowed } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

export default route(checkAppCvmsIsAllowed, async ({ services, principal, app }) => services.allowlists.appCvmsIsAllowed(principal, app));
