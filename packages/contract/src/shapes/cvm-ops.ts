/** Answers of the batch stop and the revision redeploy. */
import { z } from 'zod';
import { updateAcceptedSchema } from './updates.ts';
import { uuid } from './common.ts';

/**
 * `POST /cvms/batch-stop` (Phala Cloud's `BatchStopResponse`): `stopped` were queued a stop, `skipped` were left as
 * they are (already stopped, busy with another operation, named twice), `errors` could not be stopped (not found in
 * this workspace, or refused). `skipped_cvms`, opencvm's, says which were skipped and why.
 */
export const batchStopResultSchema = z
  .strictObject({
    total: z.number().int(),
    stopped: z.number().int(),
    skipped: z.number().int(),
    errors: z.array(z.strictObject({ cvm_id: z.string(), error: z.string() })),
    skipped_cvms: z.array(z.strictObject({ cvm_id: z.string(), reason: z.string() })),
  })
  .meta({ id: 'BatchStopResponse' });

/**
 * `POST /apps/{app_id}/revisions/{revision_id}/redeploy`: the revision and, per CVM redeployed, the accepted update
 * (its `correlation_id` names the operation).
 */
export const redeployAcceptedSchema = z
  .strictObject({
    revision_id: z.string(),
    app_id: z.string(),
    cvms: z.array(updateAcceptedSchema.extend({ vm_uuid: uuid, name: z.string() })),
  })
  .meta({ id: 'RevisionRedeployAccepted' });
