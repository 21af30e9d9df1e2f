import { createApiToken } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

/** A new token of the workspace; its secret is in this answer only. */
export default route(createApiToken, async ({ principal, services, body }) => services.tokens.create(principal, body));
