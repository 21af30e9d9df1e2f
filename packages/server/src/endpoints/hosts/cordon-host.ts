import { cordonHost } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

/** No new CVMs on the host; those there keep running. */
export default route(cordonHost, async ({ params, services }) => services.hosts.cordon(params.host, true));
