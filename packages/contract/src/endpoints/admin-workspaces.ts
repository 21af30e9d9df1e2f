/**
 * The operator's workspace and user API (opencvm's, like the host registry): `X-Admin-Key`, never a workspace
 * key. A workspace is created with its first owner (an existing user, or a new one) and answers that owner's
 * first API token, its secret shown once.
 */
import { z } from 'zod';
import { defineEndpoint } from '../endpoint.ts';
import { ErrorCodes as E } from '../errors.ts';
import { createUserRequestSchema, createWorkspaceRequestSchema } from '../requests/members.ts';
import { adminUserSchema, adminWorkspaceCreatedSchema, adminWorkspaceSchema } from '../shapes/members.ts';

export const adminCreateWorkspace = defineEndpoint({
  id: 'adminCreateWorkspace',
  method: 'POST',
  path: '/api/v1/admin/workspaces',
  summary: 'Create a workspace with its first owner',
  description:
    "One transaction: the workspace (`slug`, `name`), its owner (the user `owner.username`, created with `owner.email` if there is none) and the owner's first API token, whose secret is in this answer only. A slug taken is a 409 `ERR-11-007`.",
  tag: 'Admin',
  auth: 'adminKey',
  extension: true,
  body: { json: createWorkspaceRequestSchema },
  success: { status: 201, description: 'The workspace, its owner and their token', json: adminWorkspaceCreatedSchema },
  errors: { 409: [E.WORKSPACE_SLUG_TAKEN] },
});

export const adminListWorkspaces = defineEndpoint({
  id: 'adminListWorkspaces',
  method: 'GET',
  path: '/api/v1/admin/workspaces',
  summary: 'List every workspace',
  tag: 'Admin',
  auth: 'adminKey',
  extension: true,
  success: { status: 200, description: 'Every workspace, by id, with its member count and owners', json: z.array(adminWorkspaceSchema) },
});

export const adminCreateUser = defineEndpoint({
  id: 'adminCreateUser',
  method: 'POST',
  path: '/api/v1/admin/users',
  summary: 'Create a user',
  description: 'A user of no workspace yet: invite them (they accept with their username), or name them as a new workspace\'s owner. A username taken is a 409 `ERR-11-008`.',
  tag: 'Admin',
  auth: 'adminKey',
  extension: true,
  body: { json: createUserRequestSchema },
  success: { status: 201, description: 'The user', json: adminUserSchema },
  errors: { 409: [E.USERNAME_TAKEN] },
});
