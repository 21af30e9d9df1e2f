import { getAppFilterOptions } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

export default route(getAppFilterOptions, async ({ services, principal }) => services.reads.appFilterOptions(principal));
