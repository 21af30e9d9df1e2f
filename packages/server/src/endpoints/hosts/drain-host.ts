import { drainHost } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

/** Cordon the host and list the CVMs that still run there (nothing is moved). */
export default route(drainHost, async ({ params, services }) => services.hosts.drain(params.host));
