import { getCvm } from '@opencvm/contract';
import { cvmDetailV2025, cvmInfoV2026 } from '@opencvm/core';
import { route } from '../../http/endpoint.ts';

export default route(getCvm, async ({ services, cvm, version }) => {
  if (version === '2025-10-28') return cvmDetailV2025(cvm, { syslogEndpoint: await services.logUrls.syslogEndpoint(cvm.vm_uuid) });
  return {
    ...cvmInfoV2026(cvm, true),
    // not in Phala's schema (the official SDK drops them), but what a person debugging a boot needs to see
    boot_progress: cvm.boot_progress,
    boot_error: cvm.boot_error,
    scheduled_delete_at: cvm.scheduled_delete_at?.toISOString() ?? null,
  };
});
