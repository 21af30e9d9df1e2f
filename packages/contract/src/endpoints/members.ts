/**
 * Workspaces, members and invitations, as Phala Cloud's `/workspaces/check-slug`,
 * `/workspaces/{workspace_slug}/members…`, `/invitations…` and `/leave` (the path parameter is named `slug`
 * here, as in `GET /workspaces/{slug}`). A key reaches only its own workspace: any other slug is a 404. Phala's
 * published document has no path to accept an invitation; opencvm's is `POST /invitations/{token}/accept`.
 */
import { z } from 'zod';
import { defineEndpoint } from '../endpoint.ts';
import { ErrorCodes as E } from '../errors.ts';
import {
  acceptInvitationRequestSchema,
  checkSlugRequestSchema,
  createInvitationRequestSchema,
  createShareableInvitationRequestSchema,
  memberRoleUpdateRequestSchema,
  pageQuerySchema,
} from '../requests/members.ts';
import {
  checkSlugResponseSchema,
  invitationAcceptSchema,
  invitationPageSchema,
  invitationSchema,
  memberPageSchema,
  memberSchema,
  messageSchema,
  shareableInvitationSchema,
} from '../shapes/members.ts';

const slug = z.string().min(1).max(100).describe("the workspace's slug: the caller's key's workspace");
const wsParams = z.object({ slug });
const memberParams = z.object({ slug, user_id: z.string().min(1).max(40).describe("the member's user id (`user_id` in the member list)") });
const invitationParams = z.object({ slug, invitation_id: z.string().min(1).max(40).describe("the invitation's id (`id` in the invitation list)") });
const WS_404 = [E.WORKSPACE_NOT_FOUND] as const;

export const checkWorkspaceSlug = defineEndpoint({
  id: 'checkWorkspaceSlug',
  method: 'POST',
  path: '/api/v1/workspaces/check-slug',
  summary: 'Validate workspace slug',
  description: 'Whether the slug has the right form (3–63 of lowercase letters, digits, inner hyphens) and is not reserved (`valid`), and whether no workspace has it yet (`available`). Nothing is reserved by asking.',
  tag: 'Workspaces',
  auth: 'apiKey',
  role: 'viewer',
  body: { json: checkSlugRequestSchema },
  success: { status: 200, description: 'The verdict', json: checkSlugResponseSchema },
});

export const listWorkspaceMembers = defineEndpoint({
  id: 'listWorkspaceMembers',
  method: 'GET',
  path: '/api/v1/workspaces/{slug}/members',
  summary: 'List workspace members',
  description: 'Every member of the workspace with their role, owners first, then by the time they joined. Any member may list them.',
  tag: 'Workspaces',
  auth: 'apiKey',
  params: wsParams,
  query: pageQuerySchema,
  success: { status: 200, description: 'A page of members', json: memberPageSchema },
  errors: { 404: WS_404 },
});

export const updateWorkspaceMemberRole = defineEndpoint({
  id: 'updateWorkspaceMemberRole',
  method: 'PATCH',
  path: '/api/v1/workspaces/{slug}/members/{user_id}',
  summary: 'Update member role',
  description:
    "ADMIN or OWNER. An admin may make a non-owner an ADMIN, MEMBER or VIEWER; giving or taking OWNER needs an owner. Nobody changes their own role, and the last owner cannot be demoted (400 `ERR-11-002`). The member's keys act with the new role from their next request.",
  tag: 'Workspaces',
  auth: 'apiKey',
  role: 'admin',
  params: memberParams,
  body: { json: memberRoleUpdateRequestSchema },
  success: { status: 200, description: 'The member, with the new role', json: memberSchema },
  errors: { 400: [E.LAST_OWNER], 403: [E.ROLE_NOT_ALLOWED], 404: [E.WORKSPACE_NOT_FOUND, E.MEMBER_NOT_FOUND] },
});

export const removeWorkspaceMember = defineEndpoint({
  id: 'removeWorkspaceMember',
  method: 'DELETE',
  path: '/api/v1/workspaces/{slug}/members/{user_id}',
  summary: 'Remove workspace member',
  description:
    "ADMIN or OWNER (an owner is removed by an owner only). The member's API tokens of the workspace are revoked in the same transaction: their next request is a 401. The last owner cannot be removed (400 `ERR-11-002`).",
  tag: 'Workspaces',
  auth: 'apiKey',
  role: 'admin',
  params: memberParams,
  success: { status: 200, description: 'Removed', json: messageSchema },
  errors: { 400: [E.LAST_OWNER], 403: [E.ROLE_NOT_ALLOWED], 404: [E.WORKSPACE_NOT_FOUND, E.MEMBER_NOT_FOUND] },
});

export const leaveWorkspace = defineEndpoint({
  id: 'leaveWorkspace',
  method: 'POST',
  path: '/api/v1/workspaces/{slug}/leave',
  summary: 'Leave workspace',
  description: "The caller stops being a member; their API tokens of the workspace (this one included) are revoked. The last owner cannot leave (400 `ERR-11-002`): make another member an owner first.",
  tag: 'Workspaces',
  auth: 'apiKey',
  role: 'viewer',
  params: wsParams,
  success: { status: 200, description: 'Left', json: messageSchema },
  errors: { 400: [E.LAST_OWNER], 404: WS_404 },
});

export const createWorkspaceInvitation = defineEndpoint({
  id: 'createWorkspaceInvitation',
  method: 'POST',
  path: '/api/v1/workspaces/{slug}/invitations',
  summary: 'Send workspace invitation',
  description:
    "ADMIN or OWNER. No mail is sent: the answer's `token` is the secret the invitee accepts with (`POST /api/v1/invitations/{token}/accept`), shown this once (stored as its SHA-256); hand it over. It is used once and expires in `expires_in_days` (default 7). OWNER cannot be given by invitation; a pending invitation for the same email is a 409.",
  tag: 'Workspaces',
  auth: 'apiKey',
  role: 'admin',
  params: wsParams,
  body: { json: createInvitationRequestSchema },
  success: { status: 200, description: 'The invitation, with its secret', json: invitationSchema },
  errors: { 403: [E.ROLE_NOT_ALLOWED], 404: WS_404, 409: [E.INVITATION_EXISTS] },
});

export const listWorkspaceInvitations = defineEndpoint({
  id: 'listWorkspaceInvitations',
  method: 'GET',
  path: '/api/v1/workspaces/{slug}/invitations',
  summary: 'List pending invitations',
  description: 'ADMIN or OWNER. The invitations neither accepted, cancelled nor expired, newest first (shareable ones with `email: null`); `token` is the secret\'s first characters only.',
  tag: 'Workspaces',
  auth: 'apiKey',
  role: 'admin',
  params: wsParams,
  query: pageQuerySchema,
  success: { status: 200, description: 'A page of invitations', json: invitationPageSchema },
  errors: { 404: WS_404 },
});

export const createShareableInvitation = defineEndpoint({
  id: 'createShareableInvitation',
  method: 'POST',
  path: '/api/v1/workspaces/{slug}/invitations/shareable',
  summary: 'Create shareable invitation',
  description: "ADMIN or OWNER. A token anyone holding it may accept, any number of times, until it expires (`expires_in_days`, default 7) or is cancelled; the role is MEMBER unless `role` says otherwise (not OWNER). Shown this once.",
  tag: 'Workspaces',
  auth: 'apiKey',
  role: 'admin',
  params: wsParams,
  body: { json: createShareableInvitationRequestSchema, optional: true },
  success: { status: 200, description: 'The link and its secret', json: shareableInvitationSchema },
  errors: { 403: [E.ROLE_NOT_ALLOWED], 404: WS_404 },
});

export const cancelWorkspaceInvitation = defineEndpoint({
  id: 'cancelWorkspaceInvitation',
  method: 'DELETE',
  path: '/api/v1/workspaces/{slug}/invitations/{invitation_id}',
  summary: 'Cancel invitation',
  description: 'ADMIN or OWNER. A pending invitation of the workspace stops being acceptable at once; another workspace\'s, or one no longer pending, is a 404.',
  tag: 'Workspaces',
  auth: 'apiKey',
  role: 'admin',
  params: invitationParams,
  success: { status: 200, description: 'Cancelled', json: messageSchema },
  errors: { 404: [E.WORKSPACE_NOT_FOUND, E.INVITATION_NOT_FOUND] },
});

export const acceptInvitation = defineEndpoint({
  id: 'acceptInvitation',
  method: 'POST',
  path: '/api/v1/invitations/{token}/accept',
  summary: 'Accept an invitation',
  description:
    "opencvm's (Phala's document has no accept path). With an `X-API-Key` (of any workspace) the key's user joins; without one, `username` (and `email`) create a new user, whose username must be free. The answer carries a new API token of the workspace for the member, its secret shown this once. A token unknown, cancelled, used or expired is a 400 `ERR-11-005`; a user who is a member already, a 409.",
  tag: 'Workspaces',
  auth: 'public',
  extension: true,
  params: z.object({ token: z.string().min(1).max(200).describe('the invitation\'s secret') }),
  body: { json: acceptInvitationRequestSchema, optional: true },
  success: { status: 200, description: 'Joined', json: invitationAcceptSchema },
  errors: { 400: [E.INVITATION_INVALID], 401: [E.API_KEY_INVALID], 409: [E.ALREADY_MEMBER, E.USERNAME_TAKEN] },
});
