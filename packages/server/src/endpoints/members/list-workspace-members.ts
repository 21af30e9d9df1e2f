import { listWorkspaceMembers } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

export default route(listWorkspaceMembers, async ({ services, principal, params, query }) => services.members.members(principal, params.slug, query.page, query.page_size));
