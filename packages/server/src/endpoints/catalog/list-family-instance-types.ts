import { listFamilyInstanceTypes } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

export default route(listFamilyInstanceTypes, async ({ services, params }) => services.catalog.instanceTypeFamily(params.family));
