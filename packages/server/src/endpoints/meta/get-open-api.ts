import { buildOpenApi, endpoints, getOpenApi } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

let cached: { url: string; doc: Record<string, unknown> } | undefined;

/** The OpenAPI document, generated from the contract once per public URL. */
export default route(getOpenApi, async ({ services }) => {
  const url = services.publicUrl();
  if (cached?.url !== url) cached = { url, doc: buildOpenApi(endpoints, { serverUrl: url }) };
  return cached.doc;
});
