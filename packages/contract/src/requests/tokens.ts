/** Requests of the API token endpoints (`/tokens`), as Phala Cloud's `ApiTokenCreate` and `ApiTokenRefresh`. */
import { z } from 'zod';
import { boolQuery } from './reads.ts';

/** The longest lifetime a token may be given, in days (Phala's limit). */
export const MAX_TOKEN_DAYS = 365;

const days = z
  .number({ error: 'expires_in_days must be a number of days' })
  .int('expires_in_days must be a whole number of days')
  .min(1, 'expires_in_days is at least 1')
  .max(MAX_TOKEN_DAYS, `expires_in_days is at most ${MAX_TOKEN_DAYS}`);

/** `POST /tokens`. */
export const createApiTokenRequestSchema = z.strictObject({
  name: z
    .string({ error: 'name must be text' })
    .trim()
    .min(1, 'name must not be empty: name the token after what will use it')
    .max(100, 'name is at most 100 characters'),
  /** days until it expires (1–365); left out or null: it does not expire */
  expires_in_days: days.nullable().optional(),
});

/** The lifetime a refresh gives when the request names none, in days. */
export const DEFAULT_REFRESH_DAYS = 90;

/** `POST /tokens/{token_id}/refresh` (the body may be left out, or `{}`). */
export const refreshApiTokenRequestSchema = z
  .strictObject({
    /** the token expires this many days from now (1–365; left out or null: 90) */
    expires_in_days: days.nullable().optional(),
    /** Phala's "upgrade to the latest API version": opencvm's tokens carry no API version, so it changes nothing */
    upgrade_version: z.boolean({ error: 'upgrade_version must be true or false' }).optional(),
  })
  .nullish();

/** `GET /tokens`. */
export const listApiTokensQuerySchema = z.object({
  /** also the tokens of the other workspaces the caller's user owns */
  all_workspaces: boolQuery('all_workspaces'),
});

export type CreateApiTokenRequest = z.input<typeof createApiTokenRequestSchema>;
export type RefreshApiTokenRequest = z.input<typeof refreshApiTokenRequestSchema>;
