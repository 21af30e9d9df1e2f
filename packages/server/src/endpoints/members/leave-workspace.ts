import { leaveWorkspace } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

export default route(leaveWorkspace, async ({ services, principal, params }) => services.members.leave(principal, params.slug));
