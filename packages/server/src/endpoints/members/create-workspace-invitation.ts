import { createWorkspaceInvitation } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

export default route(createWorkspaceInvitation, async ({ services, principal, params, body }) => services.members.invite(principal, params.slug, body));
