/**
 * The smaller CVM operations at Phala Cloud's paths: a new name, `listed`, a scheduled delete, a batch stop, and
 * the redeploy of a revision (an app's, or one CVM's).
 */
import { defineEndpoint, type Endpoint } from '../endpoint.ts';
import { ErrorCodes as E } from '../errors.ts';
import {
  batchStopBodySchema,
  cvmListedBodySchema,
  cvmNameBodySchema,
  redeployBodySchema,
  redeployQuerySchema,
  scheduledDeleteBodySchema,
} from '../requests/cvm-ops.ts';
import { vmSchema } from '../shapes/cvm.ts';
import { batchStopResultSchema, redeployAcceptedSchema } from '../shapes/cvm-ops.ts';
import { updateAcceptedSchema } from '../shapes/updates.ts';
import { appIdParams, cvmIdParams } from './params.ts';
import { CHANGE_ERRORS, PROOF_ERRORS } from './updates.ts';
import { z } from 'zod';

const cvm = { tag: 'CVMs', auth: 'apiKey', resolve: 'cvm', params: cvmIdParams } as const satisfies Partial<Endpoint>;

export const updateCvmName = defineEndpoint({
  ...cvm,
  id: 'updateCvmName',
  method: 'PATCH',
  path: '/api/v1/cvms/{id}/name',
  summary: 'Rename a CVM',
  description:
    'The name follows the rule of a provision (5–63 characters, a letter first, letters, digits and hyphens: an RFC 1123 host name) and must be free among the live CVMs of the workspace (409 `ERR-01-004`). ' +
    "Only the record changes: the host VM keeps the name it was created with (dstack sets it at CreateVm), and the app's compose (measured) is not touched.",
  body: { json: cvmNameBodySchema },
  success: { status: 204, description: 'Renamed (no body)' },
  errors: { 409: [E.DUPLICATE_CVM_NAME] },
});

export const updateCvmListed = defineEndpoint({
  ...cvm,
  id: 'updateCvmListed',
  method: 'PATCH',
  path: '/api/v1/cvms/{id}/listed',
  summary: 'Set whether the CVM is listed',
  description:
    'Recorded at once and shown as `listed` in the CVM detail and lists; nothing on the host changes. On Phala Cloud it puts the CVM in public listings; opencvm has no public listing, so it is a recorded flag only.',
  body: { json: cvmListedBodySchema },
  success: { status: 200, description: 'The CVM', json: vmSchema },
  errors: { 409: [E.CVM_BUSY] },
  phalaSchema: 'VMSchema',
});

export const updateCvmScheduledDelete = defineEndpoint({
  ...cvm,
  id: 'updateCvmScheduledDelete',
  method: 'PATCH',
  role: 'admin',
  path: '/api/v1/cvms/{id}/scheduled-delete',
  summary: 'Delete the CVM at a given time, or clear that schedule',
  description:
    '`scheduled_delete_at` in the future (a time already past is refused, 422: delete now with `DELETE /cvms/{id}`); `null` or no body clears it. ' +
    "At that time the server queues the CVM's delete, once (shown in its operations with the reason); a CVM busy then is deleted when its operation ends. " +
    'An ADMIN role, as `DELETE /cvms/{id}`. The time is shown as `scheduled_delete_at` in the CVM detail.',
  body: { json: scheduledDeleteBodySchema, optional: true },
  success: { status: 200, description: 'The CVM', json: vmSchema },
  phalaSchema: 'VMSchema',
});

export const batchStopCvms = defineEndpoint({
  id: 'batchStopCvms',
  method: 'POST',
  path: '/api/v1/cvms/batch-stop',
  summary: 'Stop (force) up to 50 CVMs of the workspace at once',
  description:
    'Each id in any form `/cvms/{id}` takes. A CVM already stopped, busy with another operation, or named twice is skipped (`skipped_cvms` says which and why); ' +
    'an id that names no CVM of this workspace is an `errors` entry ("not found"), never a stop. More than 50 ids: 400.',
  tag: 'CVMs',
  auth: 'apiKey',
  body: { json: batchStopBodySchema },
  success: { status: 200, description: 'What was stopped, skipped and refused', json: batchStopResultSchema },
  errors: { 400: [E.INVALID_REQUEST] },
});

const redeployDescription =
  "The revision's compose, sealed env and user config are applied as a configuration update (the CVM stops, the host applies it, the CVM starts; resources are not changed). " +
  "On-chain KMS: the revision's compose hash must be allowed by the app's contract: otherwise 465 as the update endpoints answer; `transaction_hash` (the `addComposeHash` transaction, or `already-registered`) proves it (467, 468).";

export const redeployAppRevision = defineEndpoint({
  id: 'redeployAppRevision',
  method: 'POST',
  path: '/api/v1/apps/{app_id}/revisions/{revision_id}/redeploy',
  summary: "Redeploy a revision on the app's CVM, or on the CVMs `vm_uuids` names",
  description: `${redeployDescription} An app with several live CVMs needs \`vm_uuids\` (422 otherwise); each is updated in turn (a refusal stops there; the CVMs before it stay queued).`,
  tag: 'Apps',
  auth: 'apiKey',
  resolve: 'app',
  params: appIdParams.extend({ revision_id: z.string().min(1, 'revision_id must not be empty').max(100, 'revision_id is at most 100 characters') }),
  query: redeployQuerySchema,
  body: { json: redeployBodySchema, optional: true },
  success: { status: 202, description: 'Accepted: the redeploy of each CVM', json: redeployAcceptedSchema },
  errors: { ...CHANGE_ERRORS, 404: [E.CVM_NOT_FOUND], 422: [E.INVALID_REQUEST], ...PROOF_ERRORS },
});

export const redeployCvmRevision = defineEndpoint({
  ...cvm,
  id: 'redeployCvmRevision',
  method: 'POST',
  path: '/api/v1/cvms/{id}/revisions/{revision_id}/redeploy',
  summary: "Redeploy a revision of the CVM's app on this CVM",
  description: redeployDescription,
  params: cvmIdParams.extend({ revision_id: z.string().min(1, 'revision_id must not be empty').max(100, 'revision_id is at most 100 characters') }),
  query: redeployQuerySchema,
  success: { status: 202, description: 'Accepted', json: updateAcceptedSchema },
  errors: { ...CHANGE_ERRORS, ...PROOF_ERRORS },
});
