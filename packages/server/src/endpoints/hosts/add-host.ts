import { addHost } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

/** Add a dstack-vmm host: asked what it is, stored with its tokens sealed or hashed. */
export default route(addHost, async ({ body, services }) => services.hosts.add(body));
