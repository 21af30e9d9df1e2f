/**
 * API tokens, as Phala Cloud's `/tokens`: list, create (the secret in that answer only), revoke, refresh (a
 * new expiry). Every token is of the caller's workspace; another workspace's token id is a 404. A revoked or
 * expired token is refused (401) from its very next request, on every server of the database.
 */
import { z } from 'zod';
import { defineEndpoint } from '../endpoint.ts';
import { ErrorCodes as E } from '../errors.ts';
import { createApiTokenRequestSchema, listApiTokensQuerySchema, refreshApiTokenRequestSchema } from '../requests/tokens.ts';
import { apiTokenListSchema, apiTokenSchema } from '../shapes/tokens.ts';

const tokenParams = z.object({
  token_id: z.string().min(1, 'token_id must not be empty').max(100, 'token_id is at most 100 characters').describe("the token's id (`id` in GET /tokens)"),
});
const NOT_FOUND = { 404: [E.TOKEN_NOT_FOUND] } as const;

export const listApiTokens = defineEndpoint({
  id: 'listApiTokens',
  method: 'GET',
  path: '/api/v1/tokens',
  summary: 'List API tokens',
  description:
    "The workspace's tokens that are not revoked (expired ones included, `is_active: false`, until revoked), newest first; with `all_workspaces=true`, also those of the other workspaces the caller's user owns. No secret (`token` is null): `token_prefix` tells them apart.",
  tag: 'Tokens',
  auth: 'apiKey',
  role: 'viewer',
  query: listApiTokensQuerySchema,
  success: { status: 200, description: 'The tokens', json: apiTokenListSchema },
});

export const createApiToken = defineEndpoint({
  id: 'createApiToken',
  method: 'POST',
  path: '/api/v1/tokens',
  summary: 'Create API token',
  description:
    'A new token of the workspace, for the caller\'s user. The answer carries its secret (`token`) this once: only its SHA-256 is stored, so it cannot be shown again. `expires_in_days` (1–365) left out or null: it does not expire.',
  tag: 'Tokens',
  auth: 'apiKey',
  role: 'viewer',
  body: { json: createApiTokenRequestSchema },
  success: { status: 200, description: 'The token and its secret', json: apiTokenSchema },
});

export const revokeApiToken = defineEndpoint({
  id: 'revokeApiToken',
  method: 'DELETE',
  path: '/api/v1/tokens/{token_id}',
  summary: 'Revoke API token',
  description: 'From its next request on, on every server, the token is refused (401). Revoking the token the request is made with is allowed.',
  tag: 'Tokens',
  auth: 'apiKey',
  role: 'viewer',
  params: tokenParams,
  success: { status: 204, description: 'Revoked' },
  errors: { 400: [E.TOKEN_ALREADY_REVOKED], ...NOT_FOUND },
});

export const refreshApiToken = defineEndpoint({
  id: 'refreshApiToken',
  method: 'POST',
  path: '/api/v1/tokens/{token_id}/refresh',
  summary: 'Refresh API token (extend expiry)',
  description: `The token expires \`expires_in_days\` from now (1–365, default 90), whether it had an expiry or not, and whether or not it has expired already. The secret does not change. \`upgrade_version\` is accepted and changes nothing: opencvm's tokens carry no API version. A revoked token is a 404.`,
  tag: 'Tokens',
  auth: 'apiKey',
  role: 'viewer',
  params: tokenParams,
  body: { json: refreshApiTokenRequestSchema, optional: true },
  success: { status: 200, description: 'The token, with its new expiry', json: apiTokenSchema },
  errors: NOT_FOUND,
});
