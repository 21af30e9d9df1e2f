import { checkCvmIsAllowed } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

export default route(checkCvmIsAllowed, async ({ services, cvm, body }) => services.allowlists.cvmIsAllowed(cvm, body));
