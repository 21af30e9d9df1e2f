import { getAppAttestation } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

export default route(getAppAttestation, async ({ services, principal, app }) => services.cvmAttestation.app(principal, app));
