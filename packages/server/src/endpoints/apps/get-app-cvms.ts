import { getAppCvms } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

export default route(getAppCvms, async ({ services, principal, app, version }) => {
  const cvms = await services.reads.appCvms(principal, app);
  return version === '2025-10-28' ? services.reads.listItems(cvms, version) : services.reads.listItems(cvms, version);
});
