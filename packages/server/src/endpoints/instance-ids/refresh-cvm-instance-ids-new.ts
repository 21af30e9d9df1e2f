import { refreshCvmInstanceIdsNew } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

export default route(refreshCvmInstanceIdsNew, async ({ services, principal, body }) => services.instanceIds.renewMany(principal, body));
