/** Requests of the API token endpoints (`/tokens`). */
import { z } from 'zod';

/** The longest lifetime a token may be given, in days (ten years). */
export const MAX_TOKEN_DAYS = 3650;

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
  /** days until it expires; left out or null: it does not expire */
  expires_in_days: days.nullable().optional(),
});

/** The lifetime a refresh gives when the request names none, in days. */
export const DEFAULT_REFRESH_DAYS = 90;

/** `POST /tokens/{token_id}/refresh` (the body may be left out). */
export const refreshApiTokenRequestSchema = z
  .strictObject({
    /** the token expires this many days from now (default 90) */
    expires_in_days: days.optional(),
  })
  .nullish();

export type CreateApiTokenRequest = z.input<typeof createApiTokenRequestSchema>;
export type RefreshApiTokenRequest = z.input<typeof refreshApiTokenRequestSchema>;
