import { updateCvmName } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

/** Rename a CVM (the record only; the host VM keeps its name); 204, no body. */
export default route(updateCvmName, async ({ services, cvm, body }) => {
  await services.cvmOps.rename(cvm, body.name);
  return undefined;
});
