import { getAppEnvEncryptPubKey } from '@opencvm/contract';
import { ErrorCodes, badRequest, normalizeAppId } from '@opencvm/core';
import { route } from '../../http/endpoint.ts';

// The on-chain KMS types are served by the same key service as PHALA (only who decides a boot differs: their
// chain's KMS contract), so an app's key is derived the same way whichever KMS it uses.
export default route(getAppEnvEncryptPubKey, async ({ services, params }) => {
  const kms = await services.catalog.kms(params.kms);
  const appId = normalizeAppId(params.app_id);
  if (!appId) throw badRequest(ErrorCodes.INVALID_REQUEST, `"${params.app_id}" is not an app id: use 40 hex characters, optionally with 0x.`);
  if (kms.kms_type !== 'phala' && !services.chain.chainOf(kms.kms_type)) {
    const t = kms.kms_type.toUpperCase();
    throw badRequest(ErrorCodes.KMS_NOT_FOUND, `The ${t} KMS has no chain configured on this server (OPENCVM_${t}_RPC_URL and OPENCVM_${t}_KMS_CONTRACT): ask its operator.`);
  }
  return services.kms.signedEnvPublicKey(appId);
});
