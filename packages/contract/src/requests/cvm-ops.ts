/**
 * Requests of the smaller CVM operations Phala Cloud's API lists: a new name, `listed`, a scheduled delete,
 * a batch stop, and a revision redeploy.
 */
import { z } from 'zod';
import { cvmNameSchema } from './deploy.ts';

/** `PATCH /cvms/{id}/name`: the same rule as a provision's name (it doubles as a hostname, RFC 1123). */
export const cvmNameBodySchema = z.object({ name: cvmNameSchema });

/** `PATCH /cvms/{id}/listed`. */
export const cvmListedBodySchema = z.object({ listed: z.boolean({ error: 'listed must be true or false' }) });

/**
 * `PATCH /cvms/{id}/scheduled-delete`: when the CVM is deleted (ISO 8601 with a time zone, in the future);
 * `null`, or left out, clears the schedule.
 */
export const scheduledDeleteBodySchema = z
  .object({
    scheduled_delete_at: z.iso
      .datetime({ offset: true, error: 'scheduled_delete_at must be an ISO 8601 date-time with a time zone (e.g. 2030-01-31T12:00:00Z), or null to clear it' })
      .nullish(),
  })
  .nullish();

/** The most CVM ids one `POST /cvms/batch-stop` takes (Phala Cloud's limit). */
export const MAX_BATCH_STOP = 50;

/** `POST /cvms/batch-stop`: CVM ids in any form `/cvms/{id}` takes. More than 50 is a 400 (as Phala Cloud answers). */
export const batchStopBodySchema = z.object({
  cvm_ids: z
    .array(z.string().min(1, 'a CVM id must not be empty').max(100, 'a CVM id is at most 100 characters'), { error: 'cvm_ids must be a list of CVM identifiers' })
    .min(1, 'cvm_ids must name at least one CVM'),
});

/** `POST /apps/{app_id}/revisions/{revision_id}/redeploy`: the CVMs of the app to redeploy (required when it has several). */
export const redeployBodySchema = z
  .object({
    vm_uuids: z
      .array(z.string().min(1, 'a CVM id must not be empty').max(100, 'a CVM id is at most 100 characters'), { error: 'vm_uuids must be a list of CVM identifiers' })
      .max(MAX_BATCH_STOP, `at most ${MAX_BATCH_STOP} CVMs per redeploy`)
      .nullish(),
  })
  .nullish();

/** The redeploys' query: the transaction that registered the revision's compose hash with an on-chain KMS app's contract. */
export const redeployQuerySchema = z.object({
  transaction_hash: z.string().max(100, 'transaction_hash is at most 100 characters').nullish(),
});
