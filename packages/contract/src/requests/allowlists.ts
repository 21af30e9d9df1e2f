/** Requests of the allow-list checks (`is-allowed`). */
import { z } from 'zod';

/** 32 bytes as hex, `0x` optional: a compose hash or a device id. */
const hex32 = (name: string) => z.string({ error: `${name} must be text` }).regex(/^(0x)?[0-9a-fA-F]{64}$/, `${name} must be 64 hex characters (0x optional)`);
const nodeId = z.number({ error: 'node_id must be a number' }).int('node_id must be a whole number').min(1, 'node_id is at least 1');

/** `POST /cvms/{id}/is-allowed`: the CVM's own compose hash and node unless given. */
export const cvmIsAllowedBodySchema = z
  .object({
    compose_hash: hex32('compose_hash').nullish(),
    node_id: nodeId.nullish(),
    device_id: hex32('device_id').nullish(),
  })
  .nullish();

/** `POST /apps/{app_id}/is-allowed`: a compose hash, on a node or device if given. */
export const appIsAllowedBodySchema = z.object({
  compose_hash: hex32('compose_hash'),
  node_id: nodeId.nullish(),
  device_id: hex32('device_id').nullish(),
  chain_id: z.number({ error: 'chain_id must be a number' }).int('chain_id must be a whole number').nullish(),
});

/** `POST /apps/{app_id}/cvms/is-allowed`: no parameters (the SDK sends `{}`). */
export const appCvmsIsAllowedBodySchema = z.object({}).nullish();
