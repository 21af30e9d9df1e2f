import { checkWorkspaceSlug } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

export default route(checkWorkspaceSlug, async ({ services, body }) => services.members.checkSlug(body.slug));
