import { getAppInfo } from '@opencvm/contract';
import { appShape } from '@opencvm/core';
import { route } from '../../http/endpoint.ts';

export default route(getAppInfo, async ({ services, principal, params, version }) => {
  const { app, cvms } = await services.reads.app(principal, params.app_id);
  return appShape(app, cvms, version);
});
