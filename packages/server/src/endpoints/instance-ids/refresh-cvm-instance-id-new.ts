import { refreshCvmInstanceIdNew } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

export default route(refreshCvmInstanceIdNew, async ({ services, principal, cvm, params }) => services.instanceIds.renew(principal, cvm, params.id));
