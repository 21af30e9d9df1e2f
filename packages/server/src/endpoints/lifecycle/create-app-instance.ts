import { createAppInstance } from '@opencvm/contract';
import { vmShape } from '@opencvm/core';
import { route } from '../../http/endpoint.ts';
import { prepareOnlyOf } from '../../http/prepare-only.ts';

/** The VM before X-Phala-Version 2026-05-22; from then on the CVM as list pages show it (what the Python SDK reads). */
export default route(createAppInstance, async ({ services, principal, app, headers, body, version }) => {
  const cvm = await services.lifecycle.addInstance(principal, app, body, prepareOnlyOf(headers));
  if (version >= '2026-05-22') return (await services.reads.listItems([cvm], version as Exclude<typeof version, '2025-10-28'>))[0]!;
  return vmShape(cvm);
});
