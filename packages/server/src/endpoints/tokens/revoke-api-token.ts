import { revokeApiToken } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

/** Revoke a token of the workspace: refused from its next request on, on every server. */
export default route(revokeApiToken, async ({ principal, services, params }) => services.tokens.revoke(principal, params.token_id));
