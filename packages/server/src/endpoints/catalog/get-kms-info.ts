import { getKmsInfo } from '@opencvm/contract';
import { kmsInfo } from '@opencvm/core';
import { route } from '../../http/endpoint.ts';

export default route(getKmsInfo, async ({ services, params }) => kmsInfo(await services.catalog.kms(params.kms)));
