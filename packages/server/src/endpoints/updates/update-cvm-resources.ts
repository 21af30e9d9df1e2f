import { updateCvmResources } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';
import { accepted } from '../../http/updates.ts';

export default route(updateCvmResources, async ({ services, principal, cvm, body }) => accepted(await services.updates.resources(principal, cvm, body)));
