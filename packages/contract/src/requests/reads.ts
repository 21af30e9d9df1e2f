/** Query strings of the reads. Query values arrive as strings; an empty value means "not given". */
import { z } from 'zod';

export const intQuery = (name: string, min: number, max?: number) => {
  let n = z.coerce.number({ error: `${name} must be a number` }).int(`${name} must be a whole number`).min(min, `${name} is at least ${min}`);
  if (max !== undefined) n = n.max(max, `${name} is at most ${max}`);
  return n;
};
/** an optional query string; an empty value means "not given" */
export const textQuery = (name: string) =>
  z
    .string({ error: `${name} must be given once, as text` })
    .max(200, `${name} is at most 200 characters`)
    .optional()
    .transform((v) => v || undefined);
export const boolQuery = (name: string) =>
  z.enum(['true', 'false', '1', '0'], { error: `${name} must be true or false` }).transform((v) => v === 'true' || v === '1').optional();

const pageParams = (defaultSize: number, maxSize = 100) => ({
  page: intQuery('page', 1).default(1),
  page_size: intQuery('page_size', 1, maxSize).default(defaultSize),
});

/** `GET /cvms/paginated`. */
export const cvmPageQuerySchema = z
  .object({
    ...pageParams(50),
    node_id: intQuery('node_id', 1).optional(),
    teepod_id: intQuery('teepod_id', 1).optional(),
    user_id: z.string({ error: 'user_id must be given once' }).regex(/^\d{1,15}$/, 'user_id must be a numeric user id').optional(),
  })
  .refine((q) => q.node_id === undefined || q.teepod_id === undefined || q.node_id === q.teepod_id, {
    message: 'node_id and teepod_id are the same filter: give one of them',
    path: ['teepod_id'],
  });

/** `GET /apps` (`status` may repeat). */
export const appListQuerySchema = z.object({
  ...pageParams(50),
  search: textQuery('search'),
  status: z
    .union([z.string(), z.array(z.string())], { error: 'status must be a CVM status, e.g. running (repeat it for several)' })
    .optional()
    .transform((v) => (v === undefined ? undefined : (Array.isArray(v) ? v : [v]).filter(Boolean))),
  listed: boolQuery('listed'),
  base_image: textQuery('base_image'),
  instance_type: textQuery('instance_type'),
  kms_slug: textQuery('kms_slug'),
  kms_type: textQuery('kms_type'),
  node: textQuery('node'),
  region: textQuery('region'),
});

export const statusBatchBodySchema = z.object(
  {
    vm_uuids: z
      .array(z.string({ error: 'each vm_uuid must be a string' }), { error: 'vm_uuids is required: a list of vm_uuid strings' })
      .max(1000, 'vm_uuids takes at most 1000 ids per request'),
  },
  { error: 'the body must be a JSON object {"vm_uuids": [...]}' },
);

/** `GET /cvms/{id}/state` with `Accept: text/event-stream` (the official SDK's `watchCvmState`). */
export const watchQuerySchema = z.object({
  target: textQuery('target'),
  interval: intQuery('interval', 5, 30).default(5),
  timeout: intQuery('timeout', 10, 600).default(300),
});

export const workspacesQuerySchema = z.object({
  cursor: z.string({ error: 'cursor must be given once' }).regex(/^\d{1,15}$/, 'cursor must be a next_cursor value this API returned').optional(),
  limit: intQuery('limit', 1, 100).default(50),
});

export const nodesQuerySchema = z.object(pageParams(30));
export const osImagesQuerySchema = z.object({ ...pageParams(30), is_dev: boolQuery('is_dev') });
export const kmsListQuerySchema = z.object({ ...pageParams(30), is_onchain: boolQuery('is_onchain') });
/** `GET /kms/phala/next_app_id`: how many app ids to look ahead. */
export const nextAppIdsQuerySchema = z.object({ counts: intQuery('counts', 1, 20).default(1) });
export const revisionsQuerySchema = z.object(pageParams(50, 1000));
export const revisionQuerySchema = z.object({ raw_compose_file: boolQuery('raw_compose_file') });
export const operationsQuerySchema = z.object({ limit: intQuery('limit', 1, 100).default(20) });
