import { removeWorkspaceMember } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

export default route(removeWorkspaceMember, async ({ services, principal, params }) => services.members.remove(principal, params.slug, params.user_id));
