/**
 * API tokens (Phala Cloud's `/tokens`). A token's secret is in the answer of its creation only; every other
 * answer names it by id, name and the first characters of the secret (`token_prefix`), never the secret.
 */
import { z } from 'zod';
import { nullableTimestamp, timestamp } from './common.ts';

export const apiTokenSchema = z
  .strictObject({
    /** the token's id in this workspace (`DELETE /tokens/{token_id}`, `POST /tokens/{token_id}/refresh`) */
    id: z.string(),
    name: z.string(),
    /** the secret's first characters (`phak_` and four more), so a user can tell tokens apart */
    token_prefix: z.string(),
    created_at: timestamp,
    /** when it stops working (null: never) */
    expires_at: nullableTimestamp,
    /** the last request made with it, to the minute (null: never used) */
    last_used_at: nullableTimestamp,
  })
  .meta({ id: 'ApiToken' });

/** `POST /tokens`: the token and, this once, its secret. */
export const createdApiTokenSchema = apiTokenSchema
  .extend({
    /** the secret, to send as `X-API-Key`; shown here only: it is stored as its SHA-256 */
    token: z.string(),
  })
  .meta({ id: 'CreatedApiToken' });

export const apiTokenListSchema = z.array(apiTokenSchema);

export type ApiToken = z.output<typeof apiTokenSchema>;
export type CreatedApiToken = z.output<typeof createdApiTokenSchema>;
