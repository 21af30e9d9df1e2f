/** dstack-kms's auth webhook answers (dstack's `kms/src/main_service/upgrade_authority.rs`, camelCase). */
import { z } from 'zod';

/** `POST …/bootAuth/app|kms`: the verdict; for an app boot `gatewayAppId` is handed to the guest. */
export const bootResponseSchema = z
  .strictObject({ isAllowed: z.boolean(), gatewayAppId: z.string(), reason: z.string() })
  .meta({ id: 'BootResponse' });

/** `GET …/`: what dstack-kms's `GetMeta` and onboarding report of its authority. */
export const authInfoSchema = z
  .strictObject({
    status: z.literal('ok'),
    kmsContractAddr: z.string(),
    gatewayAppId: z.string(),
    chainId: z.number().int(),
    appAuthImplementation: z.string(),
    appImplementation: z.string(),
  })
  .meta({ id: 'KmsAuthInfo' });
