import { provisionCvmComposeFileUpdate } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

export default route(provisionCvmComposeFileUpdate, async ({ services, principal, cvm, body }) => services.updates.provisionCompose(principal, cvm, body));
