import { adminListWorkspaces } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

export default route(adminListWorkspaces, async ({ services }) => services.members.listWorkspaces());
