import { getCvmComposeFile } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

export default route(getCvmComposeFile, async ({ cvm }) => JSON.parse(cvm.app_compose) as Record<string, unknown>);
