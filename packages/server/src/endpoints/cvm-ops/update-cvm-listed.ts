import { updateCvmListed } from '@opencvm/contract';
import { vmShape } from '@opencvm/core';
import { route } from '../../http/endpoint.ts';

export default route(updateCvmListed, async ({ services, principal, cvm, body }) => vmShape(await services.cvmOps.setListed(principal, cvm, body.listed)));
