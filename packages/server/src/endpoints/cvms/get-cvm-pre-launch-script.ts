import { getCvmPreLaunchScript } from '@opencvm/contract';
import { composeFlags } from '@opencvm/core';
import { route } from '../../http/endpoint.ts';

export default route(getCvmPreLaunchScript, async ({ cvm, reply }) => {
  const script = composeFlags(cvm.app_compose).compose.pre_launch_script;
  reply.type('text/plain; charset=utf-8');
  return typeof script === 'string' ? script : '';
});
