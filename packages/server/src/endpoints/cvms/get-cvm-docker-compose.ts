import { getCvmDockerCompose } from '@opencvm/contract';
import { composeFlags } from '@opencvm/core';
import { route } from '../../http/endpoint.ts';

export default route(getCvmDockerCompose, async ({ cvm, reply }) => {
  reply.type('text/yaml; charset=utf-8');
  return composeFlags(cvm.app_compose).docker_compose_file ?? '';
});
