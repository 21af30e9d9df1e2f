import { batchStopCvms } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

export default route(batchStopCvms, async ({ services, principal, body }) => services.cvmOps.batchStop(principal, body.cvm_ids));
