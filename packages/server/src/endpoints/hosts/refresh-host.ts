import { refreshHost } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

/** Read what the host reports again (the operator's values still win). */
export default route(refreshHost, async ({ params, services }) => services.hosts.refresh(params.host));
