/** Requests of the instance-id endpoints and of a revision rollback. */
import { z } from 'zod';

export const MAX_INSTANCE_ID_BATCH = 500;

/** `POST /cvms/refresh-instance-ids`: a new instance id for each named CVM. */
export const renewInstanceIdsBodySchema = z.object({
  ids: z
    .array(z.string().min(1, 'an id must not be empty'), { error: 'ids must be a list of CVM identifiers' })
    .min(1, 'ids must name at least one CVM')
    .max(MAX_INSTANCE_ID_BATCH, `at most ${MAX_INSTANCE_ID_BATCH} ids per request`),
});

/** `PATCH /cvms/{id}/instance-id` (the official SDK's `refreshCvmInstanceId`). */
export const syncInstanceIdBodySchema = z
  .object({
    overwrite: z.boolean({ error: 'overwrite must be true or false' }).nullish(),
    dry_run: z.boolean({ error: 'dry_run must be true or false' }).nullish(),
  })
  .nullish();

/** `PATCH /cvms/instance-ids` (the official SDK's `RefreshCvmInstanceIdsRequestSchema` is strict; so is this). */
export const syncInstanceIdsBodySchema = z
  .strictObject({
    cvm_ids: z.array(z.string().min(1)).max(MAX_INSTANCE_ID_BATCH, `at most ${MAX_INSTANCE_ID_BATCH} cvm_ids per request`).optional(),
    running_only: z.boolean().optional(),
    missing_only: z.boolean().optional(),
    overwrite: z.boolean().optional(),
    dry_run: z.boolean().optional(),
    limit: z.number().int().min(1).max(MAX_INSTANCE_ID_BATCH).optional(),
  })
  .nullish();

/** `POST /apps/{app_id}/revisions/{revision_id}/rollback`: on the revision's CVM, or `cvm_id` of the same app. */
export const rollbackBodySchema = z
  .object({ cvm_id: z.union([z.string().min(1), z.number().int()], { error: 'cvm_id must be a CVM identifier (string or number)' }).nullish() })
  .nullish();
