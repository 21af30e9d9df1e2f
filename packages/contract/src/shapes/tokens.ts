/**
 * API tokens (Phala Cloud's `/tokens`, its `ApiToken` schema). A token's secret (`token`) is in the answer of
 * its creation only (null in every other answer): it is stored as its SHA-256. `token_prefix`, its first
 * characters, tells tokens apart.
 */
import { z } from 'zod';
import { nullableTimestamp, timestamp } from './common.ts';

export const apiTokenSchema = z
  .strictObject({
    /** the token's id (`DELETE /tokens/{token_id}`, `POST /tokens/{token_id}/refresh`) */
    id: z.number().int(),
    name: z.string(),
    /** the secret, to send as `X-API-Key`: in `POST /tokens`'s answer only, null in every other */
    token: z.string().nullable().optional(),
    /** the secret's first characters (`phak_` and four more) */
    token_prefix: z.string().nullable().optional(),
    /** not revoked and not expired */
    is_active: z.boolean(),
    created_at: timestamp,
    /** the last request made with it, to the minute (null: never used) */
    last_used_at: nullableTimestamp,
    /** when it stops working (null: never) */
    expires_at: nullableTimestamp,
    /** the API version a request with this token gets when it sends no `X-Phala-Version`; opencvm's tokens carry none (null): the header decides, else the server's default */
    default_version: z.string().nullable().optional(),
    /** the workspace the token belongs to (Phala's "team") */
    team_id: z.number().int().nullable().optional(),
    team_name: z.string().nullable().optional(),
    team_slug: z.string().nullable().optional(),
  })
  .meta({ id: 'ApiToken' });

export const apiTokenListSchema = z.array(apiTokenSchema);

export type ApiToken = z.output<typeof apiTokenSchema>;
