/** Path parameters many endpoints share. Path values arrive decoded once, as text. */
import { z } from 'zod';

const MAX_PARAM = 100;
const param = (what: string) =>
  z.string().min(1, `${what} must not be empty`).max(MAX_PARAM, `${what} is at most ${MAX_PARAM} characters`);

/** `{id}`: a CVM's name, vm_uuid (with or without dashes), `app_<app_id>`, `instance_<instance_id>` or numeric id. */
export const cvmIdParams = z.object({
  id: param('the CVM id').meta({ description: 'name, vm_uuid (dashes optional), app_<app_id>, instance_<instance_id>, or numeric id' }),
});
/** `{app_id}`: 40 hex characters (an `app_` or `0x` prefix is accepted). */
export const appIdParams = z.object({ app_id: param('app_id').meta({ description: 'the 40-hex app id (app_ or 0x prefix accepted)' }) });
export const revisionParams = appIdParams.extend({ revision_id: param('revision_id') });
export const operationParams = cvmIdParams.extend({ correlation_id: param('correlation_id') });
export const slugParams = z.object({ slug: param('the workspace slug') });
export const familyParams = z.object({ family: param('the instance type family') });
export const kmsParams = z.object({ kms: param('the KMS id, slug or type') });
export const kmsPubkeyParams = kmsParams.extend({ app_id: param('app_id') });
export const containerParams = z.object({ name: param('the container name') });
export const prpcMethodParams = z.object({ method: param('the pRPC method') });
