import { uncordonHost } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

/** The host takes new CVMs again. */
export default route(uncordonHost, async ({ params, services }) => services.hosts.cordon(params.host, false));
