import { rollbackAppRevision } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';
import { accepted } from '../../http/updates.ts';

export default route(rollbackAppRevision, async ({ services, principal, app, params, body }) =>
  accepted(await services.updates.rollback(principal, app.app_id, params.revision_id, body)),
);
