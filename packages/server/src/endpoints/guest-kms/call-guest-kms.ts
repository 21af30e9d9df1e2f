/**
 * The KMS as dstack guests reach it: pRPC in JSON mode (dstack's `kms/rpc/proto/kms_rpc.proto`). An error answers
 * `{"error": message}` as dstack's pRPC does (what a guest reads), with the API's error envelope beside it.
 */
import { ApiError, ErrorCodes, callGuestKms, prpc, type ErrorCode } from '@opencvm/contract';
import { fromHex, isHex, toHex } from '@opencvm/core';
import { route } from '../../http/endpoint.ts';

const refuse = (message: string, code: ErrorCode = ErrorCodes.INVALID_REQUEST) => new ApiError(400, code, message);

export default route(callGuestKms, async ({ req, services, params, body }) => {
  const method = params.method.replace(/^KMS\./, '');
  switch (method) {
    case 'GetAppKey': {
      const auth = req.headers.authorization;
      const bearer = auth?.startsWith('Bearer ') ? auth.slice(7) : undefined;
      const r = prpc.getAppKeyRequestSchema.safeParse(body ?? {});
      if (!r.success) throw refuse('vm_config must be a string');
      try {
        const keys = await services.kms.getAppKey(bearer, r.data.vm_config);
        services.metrics.keyRelease('released');
        return keys;
      } catch (e) {
        // a refused boot is a pRPC error (400), as dstack's KMS answers it
        if (e instanceof ApiError) {
          services.metrics.keyRelease('refused');
          throw refuse(e.message, e.code);
        }
        throw e;
      }
    }
    case 'GetAppEnvEncryptPubKey': {
      const appId = String((body ?? {}).app_id ?? '');
      if (!isHex(appId, 20)) throw refuse('app_id must be 20 bytes of hex');
      return services.kms.publicKeyResponse(toHex(fromHex(appId)));
    }
    case 'GetMeta':
      return {
        ca_cert: '',
        allow_any_upgrade: false,
        k256_pubkey: services.kms.k256Pubkey.replace(/^0x/, ''),
        is_dev: true,
        gateway_app_id: 'any',
      };
    default:
      throw refuse(`unknown method ${method}: this KMS answers GetAppKey, GetAppEnvEncryptPubKey and GetMeta`);
  }
});
