import { updateWorkspaceMemberRole } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

export default route(updateWorkspaceMemberRole, async ({ services, principal, params, body }) => services.members.setRole(principal, params.slug, params.user_id, body.role));
