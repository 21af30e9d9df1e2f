import { getAppRevisionDetail } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

export default route(getAppRevisionDetail, async ({ services, principal, params, query }) =>
  services.updates.revision(principal, params.app_id, params.revision_id, query.raw_compose_file ?? false),
);
