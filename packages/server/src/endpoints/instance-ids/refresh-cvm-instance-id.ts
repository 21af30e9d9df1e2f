import { refreshCvmInstanceId } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

export default route(refreshCvmInstanceId, async ({ services, principal, cvm, params, body }) => services.instanceIds.sync(principal, cvm, params.id, body));
