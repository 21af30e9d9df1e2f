import { getAppDeviceAllowlist } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

export default route(getAppDeviceAllowlist, async ({ services, principal, app }) => services.allowlists.deviceAllowlist(principal, app));
