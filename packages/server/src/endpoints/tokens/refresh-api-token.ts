import { refreshApiToken } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

/** Give a token of the workspace a new expiry (`expires_in_days` from now, default 90). */
export default route(refreshApiToken, async ({ principal, services, params, body }) => services.tokens.refresh(principal, params.token_id, body));
