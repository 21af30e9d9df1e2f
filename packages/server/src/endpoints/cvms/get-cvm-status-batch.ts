import { getCvmStatusBatch } from '@opencvm/contract';
import { cvmStatusShape } from '@opencvm/core';
import { route } from '../../http/endpoint.ts';

export default route(getCvmStatusBatch, async ({ services, principal, body }) => {
  const found = await services.reads.statusBatch(principal, body.vm_uuids);
  const now = Date.now();
  const out: Record<string, ReturnType<typeof cvmStatusShape>> = {};
  for (const [sent, r] of found) out[sent] = cvmStatusShape(r, now);
  return out;
});
