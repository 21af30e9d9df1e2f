import { cancelWorkspaceInvitation } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

export default route(cancelWorkspaceInvitation, async ({ services, principal, params }) => services.members.cancel(principal, params.slug, params.invitation_id));
