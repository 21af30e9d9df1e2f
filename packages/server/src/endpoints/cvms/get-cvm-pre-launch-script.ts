import { getCvmPreLaunchScript } from '@opencvm/contract';
import { composeFlags } from '@opencvm/core';
import { route } from '../../http/endpoint.ts';

/**
 * text/plain before X-Phala-Version 2026-05-22; a JSON string from then on (the Python SDK `phala-cloud` reads
 * the body as JSON and makes "None" of an empty one).
 */
export default route(getCvmPreLaunchScript, async ({ cvm, reply, version }) => {
  const raw = composeFlags(cvm.app_compose).compose.pre_launch_script;
  const script = typeof raw === 'string' ? raw : '';
  if (version >= '2026-05-22') {
    reply.type('application/json; charset=utf-8');
    return JSON.stringify(script);
  }
  reply.type('text/plain; charset=utf-8');
  return script;
});
