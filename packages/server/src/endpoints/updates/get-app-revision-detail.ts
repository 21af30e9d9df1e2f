import { getAppRevisionDetail } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

export default route(getAppRevisionDetail, async ({ services, app, params, query }) =>
  services.updates.revision(app.app_id, params.revision_id, query.raw_compose_file ?? false),
);
