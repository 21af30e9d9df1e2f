/**
 * Workspace members and invitations, as Phala Cloud's `TeamMemberInfo`, `PaginatedTeamMembers`,
 * `InvitationResponse`, `PaginatedInvitations` and `ShareableInvitationResponse`; the accept answer and the
 * operator's workspace and user answers are opencvm's. Roles are answered in capitals (Phala's OWNER, ADMIN,
 * MEMBER; opencvm's VIEWER).
 */
import { z } from 'zod';
import { nullableString, timestamp } from './common.ts';
import { apiTokenSchema } from './tokens.ts';

export const roleOutput = z.enum(['OWNER', 'ADMIN', 'MEMBER', 'VIEWER']);

export const memberSchema = z
  .strictObject({
    /** the user's id (decimal) */
    user_id: z.string(),
    username: z.string(),
    email: nullableString.optional(),
    role: roleOutput,
    joined_at: timestamp,
    /** the user the workspace was created for */
    is_creator: z.boolean(),
  })
  .meta({ id: 'TeamMemberInfo' });

const page = <T extends z.ZodType>(item: T) =>
  z.strictObject({ items: z.array(item), total: z.number().int(), page: z.number().int(), page_size: z.number().int(), pages: z.number().int() });

export const memberPageSchema = page(memberSchema);

export const invitationSchema = z
  .strictObject({
    id: z.number().int(),
    /** null: a shareable invitation */
    email: nullableString.optional(),
    role: roleOutput,
    /** PENDING, ACCEPTED, EXPIRED or REVOKED */
    status: z.enum(['PENDING', 'ACCEPTED', 'EXPIRED', 'REVOKED']),
    /** the secret to accept it with, in its creation's answer only; in lists, its first characters */
    token: z.string(),
    inviter_name: z.string(),
    inviter_email: z.string(),
    created_at: timestamp,
    expires_at: timestamp,
  })
  .meta({ id: 'InvitationResponse' });

export const invitationPageSchema = page(invitationSchema);

export const shareableInvitationSchema = z
  .strictObject({
    /** the path to accept it at (`POST`), relative to the server */
    invitation_url: z.string(),
    token: z.string(),
    role: roleOutput,
    expires_at: timestamp,
    invitation_message: z.string(),
  })
  .meta({ id: 'ShareableInvitationResponse' });

export const checkSlugResponseSchema = z.strictObject({
  slug: z.string(),
  /** the slug's form is right and it is not reserved */
  valid: z.boolean(),
  /** valid and no workspace has it */
  available: z.boolean(),
  /** why not, when it is not available */
  message: nullableString,
});

export const messageSchema = z.strictObject({ message: z.string() });

/** `POST /invitations/{token}/accept` (Phala's `InvitationAcceptResponse` plus the new member's API token) */
export const invitationAcceptSchema = z.strictObject({
  message: z.string(),
  workspace_slug: z.string(),
  workspace_name: z.string(),
  role: roleOutput,
  user_id: z.string(),
  username: z.string(),
  /** a new API token of the workspace for the member: its secret (`token`) shown this once */
  api_token: apiTokenSchema,
});

export const adminUserSchema = z.strictObject({ user_id: z.string(), username: z.string(), email: z.string(), created_at: timestamp });

export const adminWorkspaceSchema = z.strictObject({
  id: z.string(),
  slug: z.string(),
  name: z.string(),
  created_at: timestamp,
  members: z.number().int(),
  owners: z.array(z.string()),
});

export const adminWorkspaceCreatedSchema = z.strictObject({
  workspace: adminWorkspaceSchema,
  owner: adminUserSchema.extend({ created: z.boolean() }),
  /** the owner's first API token of the workspace: its secret (`token`) shown this once */
  api_token: apiTokenSchema,
});

export type Member = z.output<typeof memberSchema>;
export type Invitation = z.output<typeof invitationSchema>;
