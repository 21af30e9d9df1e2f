/** The two-phase deploy's answers. */
import { z } from 'zod';
import { appIdHex, composeHashHex, kmsInfoSchema, nullableString } from './common.ts';

/** `POST /cvms/provision`: the app's measured identity, before anything runs. */
export const provisionResultSchema = z
  .strictObject({
    compose_hash: composeHashHex,
    app_id: appIdHex.nullable(),
    app_env_encrypt_pubkey: z.string().regex(/^[0-9a-f]{64}$/).nullable(),
    kms_id: z.string(),
    kms_info: kmsInfoSchema,
    fmspc: nullableString,
    device_id: z.string(),
    os_image_hash: nullableString,
    instance_type: nullableString,
    teepod_id: z.number().int(),
    node_id: z.number().int(),
  })
  .meta({ id: 'ProvisionResult' });
