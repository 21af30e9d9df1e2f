import { provisionCvm } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

export default route(provisionCvm, async ({ services, principal, body }) => services.deploy.provision(principal, body));
