/** What a running CVM reports (from the store's snapshot of its guest): containers, system figures, network. */
import { z } from 'zod';
import { cvmStatusSchema } from '../enums.ts';
import { gatewayUrlSchema, nullableString } from './common.ts';

/** `GET /cvms/{id}/composition` (`CvmContainersStatsSchema`). */
export const compositionSchema = z
  .strictObject({
    is_online: z.boolean(),
    is_public: z.boolean(),
    error: nullableString,
    docker_compose_file: nullableString,
    manifest_version: z.number().int(),
    version: z.string(),
    runner: z.string(),
    features: z.array(z.string()),
    containers: z
      .array(
        z.strictObject({
          id: z.string(),
          names: z.array(z.string()),
          image: z.string(),
          image_id: z.string(),
          command: nullableString,
          created: z.number(),
          state: z.string(),
          status: z.string(),
          log_endpoint: nullableString,
        }),
      )
      .nullable(),
  })
  .meta({ id: 'CvmComposition' });

/** dstack's guest `SysInfo`, as the guest agent reports it. */
export const sysInfoSchema = z.record(z.string(), z.unknown()).meta({ id: 'SysInfo' });

/** `GET /cvms/{id}/stats` (`CvmSystemInfoSchema`). */
export const statsSchema = z
  .strictObject({
    is_online: z.boolean(),
    is_public: z.boolean(),
    error: nullableString,
    sysinfo: sysInfoSchema.nullable(),
    status: cvmStatusSchema,
    in_progress: z.boolean(),
    boot_progress: nullableString,
    boot_error: nullableString,
  })
  .meta({ id: 'CvmStats' });

/** `GET /cvms/{id}/network` (`CvmNetworkSchema`). */
export const networkSchema = z
  .strictObject({
    is_online: z.boolean(),
    is_public: z.boolean(),
    error: nullableString,
    internal_ip: nullableString,
    latest_handshake: nullableString,
    public_urls: z.array(gatewayUrlSchema),
  })
  .meta({ id: 'CvmNetwork' });
