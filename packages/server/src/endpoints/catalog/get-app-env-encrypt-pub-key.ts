import { getAppEnvEncryptPubKey } from '@opencvm/contract';
import { ErrorCodes, badRequest, normalizeAppId } from '@opencvm/core';
import { route } from '../../http/endpoint.ts';

export default route(getAppEnvEncryptPubKey, async ({ services, params }) => {
  const kms = await services.catalog.kms(params.kms);
  const appId = normalizeAppId(params.app_id);
  if (!appId) throw badRequest(ErrorCodes.INVALID_REQUEST, `"${params.app_id}" is not an app id: use 40 hex characters, optionally with 0x.`);
  if (kms.kms_type !== 'phala') {
    throw badRequest(ErrorCodes.KMS_NOT_FOUND, `KMS "${kms.id}" is an on-chain KMS whose keys this server does not hold.`);
  }
  return services.kms.signedEnvPublicKey(appId);
});
