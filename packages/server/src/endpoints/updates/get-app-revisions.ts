import { getAppRevisions } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

export default route(getAppRevisions, async ({ services, app, query }) => services.updates.revisions(app.app_id, query.page, query.page_size));
