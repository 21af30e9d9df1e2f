import { listApiTokens } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

/** The workspace's tokens that are not revoked, without their secrets. */
export default route(listApiTokens, async ({ principal, services }) => services.tokens.list(principal));
