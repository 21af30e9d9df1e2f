import { getOsImages } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

export default route(getOsImages, async ({ services, query: q }) => services.catalog.osImages(q.is_dev, { page: q.page, pageSize: q.page_size }));
