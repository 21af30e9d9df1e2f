import { listAllInstanceTypeFamilies } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

export default route(listAllInstanceTypeFamilies, async ({ services }) => services.catalog.instanceTypeFamilies());
