import { nextAppIds } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

export default route(nextAppIds, async ({ services, principal, query }) => services.deploy.nextAppIds(principal, query.counts));
