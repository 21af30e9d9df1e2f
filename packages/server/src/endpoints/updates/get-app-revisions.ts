import { getAppRevisions } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

export default route(getAppRevisions, async ({ services, principal, params, query }) => services.updates.revisions(principal, params.app_id, query.page, query.page_size));
