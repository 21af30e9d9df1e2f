import { refreshCvmInstanceIds } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

export default route(refreshCvmInstanceIds, async ({ services, principal, body }) => services.instanceIds.syncMany(principal, body));
