import { getKmsAuthInfo } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

export default route(getKmsAuthInfo, async ({ services, params }) => services.kmsAuth.info(params.kms_type));
