/** The caller. */
import { defineEndpoint } from '../endpoint.ts';
import { currentUserV2025Schema, currentUserV2026Schema } from '../shapes/catalog.ts';

export const getCurrentUser = defineEndpoint({
  id: 'getCurrentUser',
  method: 'GET',
  path: '/api/v1/auth/me',
  summary: "The API key's user and workspace",
  tag: 'Auth',
  auth: 'apiKey',
  success: {
    status: 200,
    description: 'The user, their workspace and credits (shape by X-Phala-Version)',
    json: { versioned: { '2025-10-28': currentUserV2025Schema, '2026-01-21': currentUserV2026Schema } },
  },
  phalaSchema: { '2025-10-28': 'CurrentUserV20251028Schema', '2026-01-21': 'CurrentUserV20260121Schema' },
});
