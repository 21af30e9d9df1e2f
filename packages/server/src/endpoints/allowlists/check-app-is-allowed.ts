import { checkAppIsAllowed } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

export default route(checkAppIsAllowed, async ({ services, app, body }) => services.allowlists.appIsAllowed(app, body));
