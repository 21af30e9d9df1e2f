import { listWorkspaceInvitations } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

export default route(listWorkspaceInvitations, async ({ services, principal, params, query }) => services.members.invitations(principal, params.slug, query.page, query.page_size));
