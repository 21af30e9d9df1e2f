import { getHost } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

/** One host, by id or name (no token in the answer). */
export default route(getHost, async ({ params, services }) => services.hosts.get(params.host));
