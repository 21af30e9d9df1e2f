import { getCvmStats } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

export default route(getCvmStats, async ({ services, cvm }) => services.runtime.stats(cvm));
