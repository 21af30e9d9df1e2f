import { getWorkspace } from '@opencvm/contract';
import { workspaceShape } from '@opencvm/core';
import { route } from '../../http/endpoint.ts';

export default route(getWorkspace, async ({ services, principal, params }) => workspaceShape(await services.reads.workspace(principal, params.slug), principal.workspaceId));
