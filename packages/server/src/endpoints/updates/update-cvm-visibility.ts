import { updateCvmVisibility } from '@opencvm/contract';
import { cvmDetailV2025 } from '@opencvm/core';
import { route } from '../../http/endpoint.ts';

/** Answers the 2025-10-28 detail whatever X-Phala-Version says, as the official SDK expects. */
export default route(updateCvmVisibility, async ({ services, principal, cvm, body }) => {
  const updated = await services.updates.visibility(principal, cvm, body);
  return cvmDetailV2025(updated, { syslogEndpoint: await services.logUrls.syslogEndpoint(updated.vm_uuid) });
});
