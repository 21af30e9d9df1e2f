import { adminCreateWorkspace } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

export default route(adminCreateWorkspace, async ({ services, body }) => services.members.createWorkspace(body));
