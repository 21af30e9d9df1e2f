/** Apps (`/apps…`) and revisions. */
import { z } from 'zod';
import { kmsTypeSchema } from '../enums.ts';
import { cvmRefSchema, nullableString, timestamp, userRefSchema, workspaceRefSchema } from './common.ts';
import { cvmBasicInfoV2025Schema, cvmInfoV2026Schema } from './cvm.ts';

const appOf = <C extends z.ZodType>(cvm: C) =>
  z.strictObject({
    id: z.string(),
    name: z.string(),
    app_id: z.string(),
    created_at: timestamp,
    kms_type: kmsTypeSchema,
    current_cvm: cvm.nullable(),
    cvms: z.array(cvm),
    cvm_count: z.number().int().nonnegative(),
  });

/** `DstackAppFullResponse`: an app, its live CVMs newest first, `current_cvm` the newest. */
export const appV2025Schema = appOf(cvmBasicInfoV2025Schema).meta({ id: 'AppV20251028' });
export const appV2026Schema = appOf(cvmInfoV2026Schema).meta({ id: 'AppV20260121' });

const appPageOf = <A extends z.ZodType>(app: A) =>
  z.strictObject({
    dstack_apps: z.array(app),
    page: z.number().int().positive(),
    page_size: z.number().int().positive(),
    total: z.number().int().nonnegative(),
    total_pages: z.number().int().positive(),
  });
export const appPageV2025Schema = appPageOf(appV2025Schema);
export const appPageV2026Schema = appPageOf(appV2026Schema);

/** A revision: every change that moved the compose hash, and each first deploy (immutable). */
export const revisionSchema = z
  .strictObject({
    revision_id: z.string(),
    app_id: z.string(),
    vm_uuid: z.string(),
    compose_hash: z.string(),
    created_at: timestamp,
    operation_type: z.string(),
    trace_id: nullableString,
    triggered_by: userRefSchema.nullable(),
    cvm: cvmRefSchema,
    workspace: workspaceRefSchema,
  })
  .meta({ id: 'Revision' });

export const revisionPageSchema = z.strictObject({
  revisions: z.array(revisionSchema),
  total: z.number().int().nonnegative(),
  page: z.number().int().positive(),
  page_size: z.number().int().positive(),
  total_pages: z.number().int().nonnegative(),
});

/** A revision with what it deployed: the app-compose (parsed, or the exact text with `raw_compose_file`), sealed env, user config. */
export const revisionDetailSchema = revisionSchema
  .extend({
    compose_file: z.union([z.record(z.string(), z.unknown()), z.string()]),
    encrypted_env: z.string(),
    user_config: z.string(),
  })
  .meta({ id: 'RevisionDetail' });

/** `GET /apps/filter-options`: the values the filters of `GET /apps` can take in the caller's workspace, each list distinct and sorted. */
export const appFilterOptionsSchema = z
  .strictObject({
    statuses: z.array(z.string()).meta({ description: "the statuses of the workspace's live CVMs (`status`)" }),
    image_versions: z.array(z.string()).meta({ description: 'the OS images they run (`base_image`)' }),
    instance_types: z.array(z.string()).meta({ description: 'their instance types (`instance_type`)' }),
    kms_slugs: z.array(z.string()).meta({ description: "their apps' KMS slugs (`kms_slug`)" }),
    kms_types: z.array(z.string()).meta({ description: "their apps' KMS types (`kms_type`)" }),
    regions: z.array(z.string()).meta({ description: 'the regions of the hosts they are placed on (`region`)' }),
    nodes: z.array(z.string()).meta({ description: 'the names of those hosts (`node`)' }),
  })
  .meta({ id: 'AppFilterOptions' });
