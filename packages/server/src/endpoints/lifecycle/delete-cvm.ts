import { deleteCvm } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

export default route(deleteCvm, async ({ services, principal, cvm }) => {
  const c = await services.lifecycle.act(principal, cvm, 'delete');
  return { id: c.vm_uuid, name: c.name, status: c.status, correlation_id: c.progress?.correlation_id ?? null };
});
