import { getCvmUserConfig } from '@opencvm/contract';
import { composeFlags, userConfigShape } from '@opencvm/core';
import { route } from '../../http/endpoint.ts';

export default route(getCvmUserConfig, async ({ services, cvm }) => {
  const compose = composeFlags(cvm.app_compose).compose;
  return userConfigShape(await services.reads.userConfig(cvm.id), {
    hostname: cvm.name,
    gatewayDomain: typeof compose.default_gateway_domain === 'string' ? compose.default_gateway_domain : cvm.node.gateway_base_domain,
  });
});
