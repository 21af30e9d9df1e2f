import { createShareableInvitation } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

export default route(createShareableInvitation, async ({ services, principal, params, body }) => services.members.shareable(principal, params.slug, body));
