import { patchHost } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

/** Change what the operator sets of a host (a new URL or auth token is tried on the host first). */
export default route(patchHost, async ({ params, body, services }) => services.hosts.patch(params.host, body));
