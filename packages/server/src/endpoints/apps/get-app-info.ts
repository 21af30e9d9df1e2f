import { getAppInfo } from '@opencvm/contract';
import { appShape } from '@opencvm/core';
import { route } from '../../http/endpoint.ts';

export default route(getAppInfo, async ({ services, principal, app, version }) => appShape(app, await services.reads.appCvms(principal, app), version));
