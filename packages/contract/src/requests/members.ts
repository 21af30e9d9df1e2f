/**
 * Requests of the workspace, member and invitation endpoints (Phala Cloud's `CheckSlugRequest`,
 * `InvitationCreateRequest`, `MemberRoleUpdateRequest`) and of the operator's workspace and user API.
 */
import { z } from 'zod';
import { ROLES } from '../endpoint.ts';

/** What a workspace slug may be: 3–63 of lowercase letters, digits and inner hyphens. */
export const SLUG_RULE = /^[a-z0-9](?:[a-z0-9-]{1,61}[a-z0-9])$/;
/** Slugs that name API paths or the operator, never a workspace. */
export const RESERVED_SLUGS = ['admin', 'api', 'check-slug', 'invitations', 'new', 'settings', 'system', 'www'] as const;

/** A role as a request may write it: any case (`ADMIN`, `admin`). */
export const roleInput = z
  .string({ error: 'role must be text: OWNER, ADMIN, MEMBER or VIEWER' })
  .trim()
  .transform((s) => s.toLowerCase())
  .pipe(z.enum(ROLES, { error: 'role must be OWNER, ADMIN, MEMBER or VIEWER' }));

const slug = z
  .string({ error: 'slug must be text' })
  .trim()
  .toLowerCase()
  .regex(SLUG_RULE, 'slug must be 3–63 characters: lowercase letters, digits and hyphens, not starting or ending with a hyphen')
  .refine((s) => !(RESERVED_SLUGS as readonly string[]).includes(s), 'slug is reserved: choose another');

const username = z
  .string({ error: 'username must be text' })
  .trim()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{1,62}$/, 'username must be 2–63 characters: letters, digits, ".", "_" and "-", starting with a letter or digit');
const email = z.string({ error: 'email must be text' }).trim().max(254, 'email is at most 254 characters').pipe(z.email({ error: 'email must be an email address' }));

/** `POST /workspaces/check-slug` */
export const checkSlugRequestSchema = z.strictObject({ slug: z.string({ error: 'slug must be text' }).max(200, 'slug is at most 200 characters') });

/** `POST /workspaces/{slug}/invitations`: who (an email, to tell invitations apart: no mail is sent) and as what. */
export const createInvitationRequestSchema = z.strictObject({
  email,
  role: roleInput,
  /** days until the invitation expires (1–30, default 7): opencvm's */
  expires_in_days: z.number().int().min(1, 'expires_in_days is at least 1').max(30, 'expires_in_days is at most 30').optional(),
});

/** `POST /workspaces/{slug}/invitations/shareable`: Phala's takes no body (a MEMBER link); opencvm's may name the role and lifetime. */
export const createShareableInvitationRequestSchema = z
  .strictObject({
    role: roleInput.optional(),
    expires_in_days: z.number().int().min(1, 'expires_in_days is at least 1').max(30, 'expires_in_days is at most 30').optional(),
  })
  .optional();

/** `PATCH /workspaces/{slug}/members/{user_id}` */
export const memberRoleUpdateRequestSchema = z.strictObject({ role: roleInput });

/** `POST /invitations/{token}/accept`: without an API key, the new user to create. */
export const acceptInvitationRequestSchema = z
  .strictObject({
    username: username.optional(),
    email: email.optional(),
    /** the name of the API token the answer carries (default `invitation`) */
    token_name: z.string().trim().min(1).max(100).optional(),
  })
  .optional();

/** `POST /admin/users` */
export const createUserRequestSchema = z.strictObject({ username, email });

/** `POST /admin/workspaces`: the workspace and its first owner (an existing user by username, or a new one). */
export const createWorkspaceRequestSchema = z.strictObject({
  slug,
  name: z.string().trim().min(1, 'name must not be empty').max(100, 'name is at most 100 characters').optional(),
  owner: z.strictObject({ username, email: email.optional() }),
  /** days until the owner's first API token expires (1–365; left out: it does not expire) */
  token_expires_in_days: z.number().int().min(1).max(365).optional(),
});

export const pageQuerySchema = z.strictObject({
  page: z.coerce.number().int().min(1, 'page is at least 1').default(1),
  page_size: z.coerce.number().int().min(1, 'page_size is at least 1').max(100, 'page_size is at most 100').default(30),
});

export type CreateWorkspaceRequest = z.output<typeof createWorkspaceRequestSchema>;
export type CreateInvitationRequest = z.output<typeof createInvitationRequestSchema>;
export type AcceptInvitationRequest = z.output<typeof acceptInvitationRequestSchema>;
