import { removeHost } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

/** Remove a host without live CVMs; the answer is the host as removed (status `removed`). */
export default route(removeHost, async ({ params, services }) => services.hosts.remove(params.host));
