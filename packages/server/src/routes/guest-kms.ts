/**
 * The KMS as dstack guests reach it: pRPC in JSON mode at `/kms/prpc/<Method>` (dstack-facts §3.3),
 * errors as HTTP 400 `{"error"}`. Guests append `/prpc` to the KMS URL they are given.
 */
import type { FastifyInstance } from 'fastify';
import { ApiError, fromHex, isHex, toHex } from '@opencvm/core';
import type { Services } from '../http/context.ts';

export function guestKmsRoutes(app: FastifyInstance, s: Services): void {
  app.post<{ Params: { method: string }; Body: Record<string, unknown> | undefined }>('/kms/prpc/:method', async (req, reply) => {
    const method = req.params.method.replace(/^KMS\./, '');
    const body = req.body ?? {};
    try {
      switch (method) {
        case 'GetAppKey': {
          const auth = req.headers.authorization;
          const bearer = auth?.startsWith('Bearer ') ? auth.slice(7) : undefined;
          return await s.kms.getAppKey(bearer, String(body.vm_config ?? ''));
        }
        case 'GetAppEnvEncryptPubKey': {
          const appId = String(body.app_id ?? '');
          if (!isHex(appId, 20)) return reply.status(400).send({ error: 'app_id must be 20 bytes of hex' });
          return s.kms.publicKeyResponse(toHex(fromHex(appId)));
        }
        case 'GetMeta':
          return {
            ca_cert: '',
            allow_any_upgrade: false,
            k256_pubkey: s.kms.k256Pubkey.replace(/^0x/, ''),
            is_dev: true,
            gateway_app_id: 'any',
          };
        default:
          return reply.status(400).send({ error: `unknown method ${method}` });
      }
    } catch (e) {
      if (e instanceof ApiError) return reply.status(400).send({ error: e.message });
      throw e;
    }
  });
}
