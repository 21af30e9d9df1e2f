import { getCvmNetwork } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

export default route(getCvmNetwork, async ({ services, cvm }) => services.runtime.network(cvm));
