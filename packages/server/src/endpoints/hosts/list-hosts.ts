import { listHosts } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

/** Every host of the registry (no token in the answer). */
export default route(listHosts, async ({ services }) => services.hosts.list());
