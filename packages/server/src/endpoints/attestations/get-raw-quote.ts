import { getRawQuote } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

/** The quote bytes as uploaded (`application/octet-stream`); fastify answers HEAD from this route too. */
export default route(getRawQuote, async ({ services, params, reply }) => {
  const raw = await services.attestations.raw(params.checksum);
  reply.header('content-type', 'application/octet-stream');
  reply.header('content-disposition', `attachment; filename="${params.checksum.trim().toLowerCase()}.bin"`);
  return raw;
});
