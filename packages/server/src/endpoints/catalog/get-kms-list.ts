import { getKmsList } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

export default route(getKmsList, async ({ services, query: q }) => services.catalog.kmsList(q.is_onchain, { page: q.page, pageSize: q.page_size }));
