import { getCvmContainersStats } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

export default route(getCvmContainersStats, async ({ services, cvm }) => services.runtime.composition(cvm));
