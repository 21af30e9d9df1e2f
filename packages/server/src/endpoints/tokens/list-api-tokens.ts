import { listApiTokens } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

/** The workspace's tokens that are not revoked (with `all_workspaces`, those of every workspace the user owns), without their secrets. */
export default route(listApiTokens, async ({ principal, services, query }) => services.tokens.list(principal, query.all_workspaces ?? false));
