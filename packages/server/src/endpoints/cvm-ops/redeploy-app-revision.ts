import { redeployAppRevision } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';
import { accepted } from '../../http/updates.ts';

export default route(redeployAppRevision, async ({ services, principal, app, params, query, body }) => {
  const r = await services.updates.redeployOnApp(principal, app.app_id, params.revision_id, body?.vm_uuids, query.transaction_hash);
  return { revision_id: r.revision_id, app_id: r.app_id, cvms: r.cvms.map((c) => ({ vm_uuid: c.vm_uuid, name: c.name, ...accepted(c.result) })) };
});
