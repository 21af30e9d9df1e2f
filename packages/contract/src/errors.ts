/**
 * Phala Cloud error codes and the one error envelope every 4xx/5xx uses:
 * `{"detail": {error_code, message, details, suggestions, links, request_id?}, error_code, message, details,
 * suggestions, links, request_id?}`: Phala's structured error under `detail`, which the official `@phala/cloud`
 * SDK (and the `phala` CLI) turn into a `ResourceError`, and the same fields again at the top level, where
 * the Python SDK `phala-cloud` looks for them (it builds its `ResourceError` only from a top-level
 * `error_code`). The JavaScript clients read `detail` first, so the copy changes nothing for them; it is the
 * same at every `X-Phala-Version` (errors raised before a request is read have no version to go by).
 */
import { z } from 'zod';

export const ErrorCodes = {
  NODE_NOT_FOUND: 'ERR-01-001',
  COMPOSE_FILE_REQUIRED: 'ERR-01-002',
  INVALID_COMPOSE_FILE: 'ERR-01-003',
  DUPLICATE_CVM_NAME: 'ERR-01-004',
  HASH_REGISTRATION_REQUIRED: 'ERR-01-005',
  HASH_INVALID_OR_EXPIRED: 'ERR-01-006',
  TX_VERIFICATION_FAILED: 'ERR-01-007',
  HASH_NOT_ALLOWED: 'ERR-01-008',
  INSTANCE_TYPE_NOT_FOUND: 'ERR-02-001',
  RESOURCE_NOT_AVAILABLE: 'ERR-02-002',
  INSUFFICIENT_VCPU: 'ERR-02-003',
  INSUFFICIENT_MEMORY: 'ERR-02-004',
  INSUFFICIENT_SLOTS: 'ERR-02-005',
  GPU_ALLOCATION_ERROR: 'ERR-02-006',
  INSUFFICIENT_GPU: 'ERR-02-007',
  INVALID_REQUEST: 'ERR-02-008',
  INCOMPATIBLE_CONFIG: 'ERR-02-009',
  IMAGE_NOT_FOUND: 'ERR-02-010',
  KMS_NOT_FOUND: 'ERR-02-011',
  TEEPOD_NOT_ACCESSIBLE: 'ERR-02-012',
  OS_IMAGE_NOT_COMPATIBLE: 'ERR-02-013',
  NODE_CAPACITY_NOT_CONFIGURED: 'ERR-02-014',
  QUOTA_EXCEEDED: 'ERR-02-015',
  /** opencvm: the chain of an on-chain KMS did not answer (HTTP 503, Retry-After); nothing was written. */
  CHAIN_UNAVAILABLE: 'ERR-02-016',
  CVM_NOT_FOUND: 'ERR-03-001',
  MULTIPLE_CVMS_SAME_NAME: 'ERR-03-002',
  CVM_NOT_IN_WORKSPACE: 'ERR-03-003',
  CVM_ACCESS_DENIED: 'ERR-03-005',
  REPLICA_IMAGE_NOT_AVAILABLE: 'ERR-03-006',
  CVM_APP_ID_CONFLICT: 'ERR-03-007',
  /** opencvm: the action makes no sense in the CVM's current state (start a running CVM…). Not retriable. */
  CVM_INVALID_STATE: 'ERR-03-008',
  /** opencvm: another operation is running on the CVM (HTTP 409, Retry-After). Retriable. */
  CVM_BUSY: 'ERR-03-009',
  /** opencvm: a commit token is unknown, used, expired, or for another CVM. */
  COMMIT_TOKEN_INVALID: 'ERR-01-009',
  /** opencvm: an on-chain KMS app is not registered in the chain's KMS contract (or has no contract at its app id). */
  APP_NOT_REGISTERED: 'ERR-01-010',
  /** opencvm: the app's contract does not allow the device (host) the CVM is placed on. */
  DEVICE_NOT_ALLOWED: 'ERR-01-011',
  /** opencvm: the request needs an API key (`X-API-Key`). */
  API_KEY_REQUIRED: 'ERR-06-101',
  /** opencvm: the API key is unknown or revoked. */
  API_KEY_INVALID: 'ERR-06-102',
  /** opencvm: no API token with that id in the caller's workspace. */
  TOKEN_NOT_FOUND: 'ERR-06-301',
  TOKEN_ALREADY_REVOKED: 'ERR-06-302',
  /** opencvm: no workspace with that slug among the caller's (unknown, or the caller is not a member). */
  WORKSPACE_NOT_FOUND: 'ERR-06-201',
  /** opencvm: no such route. */
  ROUTE_NOT_FOUND: 'ERR-00-404',
  /** opencvm: the path exists, but not with this method (the `Allow` header lists the methods it has). */
  METHOD_NOT_ALLOWED: 'ERR-00-405',
  /** opencvm: too many requests from this client address, or of mutations with this API key (HTTP 429, Retry-After). */
  RATE_LIMITED: 'ERR-00-429',
  /** opencvm: an unexpected server fault (a bug: please report it). */
  INTERNAL_ERROR: 'ERR-00-500',
  /** opencvm: the server's database does not answer (`GET /healthz`: the server cannot serve until it does). */
  DATABASE_UNAVAILABLE: 'ERR-00-503',
  /** opencvm: `GET /metrics` needs the metrics token the server was given (`Authorization: Bearer`). */
  METRICS_TOKEN_INVALID: 'ERR-06-103',
  /** opencvm: the host admin API (`/api/v1/admin/hosts…`) needs the server's admin key as `X-Admin-Key`. */
  ADMIN_KEY_INVALID: 'ERR-06-104',
  /** opencvm: the host admin API is off: the server was started without `OPENCVM_ADMIN_KEY`. */
  ADMIN_API_DISABLED: 'ERR-06-105',
  /** opencvm: no host of the registry has that id or name. */
  HOST_NOT_FOUND: 'ERR-08-001',
  /** opencvm: a host of that name is registered already. */
  HOST_NAME_TAKEN: 'ERR-08-002',
  /** opencvm: the host still has live CVMs (remove refused). */
  HOST_HAS_CVMS: 'ERR-08-003',
  /** opencvm: the host did not answer, or refused, while it was being added or refreshed. */
  HOST_UNREACHABLE: 'ERR-08-004',
  /** opencvm: the host asked for is cordoned: it takes no new CVMs. */
  HOST_CORDONED: 'ERR-08-005',
  /** opencvm: another host's guests present that KMS token already (each host needs its own). */
  HOST_KMS_TOKEN_TAKEN: 'ERR-08-006',
  /** opencvm: a live host of the registry is at that URL already (one host, one registry entry). */
  HOST_URL_TAKEN: 'ERR-08-007',
  /** opencvm: the capacity asked is below what the live CVMs on the host reserve. */
  HOST_CAPACITY_IN_USE: 'ERR-08-008',
  /** opencvm: no SSH key with that id among the caller's. */
  SSH_KEY_NOT_FOUND: 'ERR-10-001',
  /** opencvm: the caller has added that SSH key already (same fingerprint). */
  SSH_KEY_EXISTS: 'ERR-10-002',
  /** opencvm: GitHub could not be reached, or did not answer in time (a closed network): add the key with POST /user/ssh-keys. */
  GITHUB_UNREACHABLE: 'ERR-10-003',
  /** opencvm: GitHub has no user of that name. */
  GITHUB_USER_NOT_FOUND: 'ERR-10-004',
  /** opencvm: the caller's role in the workspace is below the one the endpoint needs (the message names both). */
  ROLE_FORBIDDEN: 'ERR-06-401',
  /** opencvm: no member with that user id in the workspace. */
  MEMBER_NOT_FOUND: 'ERR-11-001',
  /** opencvm: the change would leave the workspace without an owner (remove, demote or leave the last one). */
  LAST_OWNER: 'ERR-11-002',
  /** opencvm: the role asked cannot be given this way (unknown, above the caller's own, or a change of one's own role). */
  ROLE_NOT_ALLOWED: 'ERR-11-003',
  /** opencvm: no pending invitation with that id in the workspace. */
  INVITATION_NOT_FOUND: 'ERR-11-004',
  /** opencvm: the invitation token is unknown, cancelled, used or expired. */
  INVITATION_INVALID: 'ERR-11-005',
  /** opencvm: the user is a member of the workspace already. */
  ALREADY_MEMBER: 'ERR-11-006',
  /** opencvm: a workspace with that slug exists already. */
  WORKSPACE_SLUG_TAKEN: 'ERR-11-007',
  /** opencvm: a user with that username exists already. */
  USERNAME_TAKEN: 'ERR-11-008',
  /** opencvm: a pending invitation for that email exists already in the workspace. */
  INVITATION_EXISTS: 'ERR-11-009',
  /** opencvm: the input is not a DCAP quote (empty, not hex, not a quote that parses). */
  QUOTE_INVALID: 'ERR-12-001',
  /** opencvm: the quote is larger than 64 KiB. */
  QUOTE_TOO_LARGE: 'ERR-12-002',
  /** opencvm: no collateral was sent and none is stored for that quote: send `collateral`. */
  COLLATERAL_REQUIRED: 'ERR-12-003',
  /** opencvm: the collateral is not Intel's collateral in the QuoteCollateralV3 shape. */
  COLLATERAL_INVALID: 'ERR-12-004',
  /** opencvm: no quote with that checksum was verified here. */
  QUOTE_NOT_FOUND: 'ERR-12-005',
  /** opencvm: no webhook with that id in the caller's workspace. */
  WEBHOOK_NOT_FOUND: 'ERR-14-001',
  /** opencvm: the webhook URL is refused: not http(s), or its host resolves to a loopback, private, link-local or other non-public address. */
  WEBHOOK_URL_REFUSED: 'ERR-14-002',
  /** opencvm: the webhook has no delivery of that event. */
  WEBHOOK_EVENT_NOT_FOUND: 'ERR-14-003',
  /** opencvm: the webhook is disabled; a test or a resend would wait until it is enabled. */
  WEBHOOK_DISABLED: 'ERR-14-004',
  /** opencvm: the webhook's secret cannot be opened with this server's seal key (the key changed): rotate it. */
  WEBHOOK_SECRET_UNREADABLE: 'ERR-14-005',
  /** opencvm: no operator event has that id (`after` of `GET /api/v1/admin/events`). */
  OPERATOR_EVENT_NOT_FOUND: 'ERR-15-001',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export interface ErrorDetail {
  field?: string;
  value?: unknown;
  message?: string;
}

/** Phala's structured error: what the envelope carries under `detail` and again at its top level. */
export interface StructuredError {
  error_code: ErrorCode;
  message: string;
  details: ErrorDetail[];
  suggestions: string[];
  links: { label: string; url: string }[];
  /** the request's id, as its `X-Request-Id` answer header and the server's log lines carry it */
  request_id?: string;
}

export type ErrorEnvelope = { detail: StructuredError } & StructuredError;

/** An error a client can act on: it carries the HTTP status and the envelope fields. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: ErrorCode;
  readonly details: ErrorDetail[];
  readonly suggestions: string[];
  readonly headers: Record<string, string>;

  constructor(
    status: number,
    code: ErrorCode,
    message: string,
    opts: { details?: ErrorDetail[]; suggestions?: string[]; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = opts.details ?? [];
    this.suggestions = opts.suggestions ?? [];
    this.headers = opts.headers ?? {};
  }

  /** The envelope of this error; `requestId` (the request's `X-Request-Id`) goes in as `request_id`. */
  toEnvelope(requestId?: string): ErrorEnvelope {
    const structured: StructuredError = {
      error_code: this.code,
      message: this.message,
      details: this.details,
      suggestions: this.suggestions,
      links: [],
      ...(requestId ? { request_id: requestId } : {}),
    };
    return { detail: structured, ...structured };
  }
}

export const badRequest = (code: ErrorCode, message: string, opts?: ConstructorParameters<typeof ApiError>[3]) =>
  new ApiError(400, code, message, opts);
export const notFound = (code: ErrorCode, message: string, opts?: ConstructorParameters<typeof ApiError>[3]) =>
  new ApiError(404, code, message, opts);
export const conflict = (code: ErrorCode, message: string, opts?: ConstructorParameters<typeof ApiError>[3]) =>
  new ApiError(409, code, message, opts);

const errorCodeValues = Object.values(ErrorCodes) as [ErrorCode, ...ErrorCode[]];

/** Phala's structured error: `error_code`, `message`, `details`, `suggestions`, `links`, `request_id?`. */
export const structuredErrorSchema = z.strictObject({
  error_code: z.enum(errorCodeValues),
  message: z.string().min(1),
  details: z.array(
    z.strictObject({
      field: z.string().optional(),
      value: z.unknown().optional(),
      message: z.string().optional(),
    }),
  ),
  suggestions: z.array(z.string()),
  links: z.array(z.strictObject({ label: z.string(), url: z.string() })),
  request_id: z.string().optional().meta({ description: "The request's id: its X-Request-Id answer header, and the field that marks its lines in the server log. Quote it when reporting a problem." }),
}).meta({ id: 'StructuredError', description: "Phala Cloud's structured error." });

/**
 * The body of every 4xx and 5xx: the structured error under `detail` and the same fields at the top level
 * (equal to `detail`'s).
 */
export const errorEnvelopeSchema = z
  .strictObject({ detail: structuredErrorSchema, ...structuredErrorSchema.shape })
  .meta({
    id: 'ErrorEnvelope',
    description:
      "Every error answer: Phala Cloud's structured error under `detail` (which the official @phala/cloud SDK and the phala CLI turn into a ResourceError carrying error_code and message), and the same fields again at the top level, equal to detail's (where the Python SDK phala-cloud reads them for its ResourceError). The same at every X-Phala-Version.",
  });

/**
 * The guest KMS's error answer (`/kms/prpc/{method}`): dstack's pRPC `{"error": message}`, which a guest reads,
 * beside the API's envelope (`detail`).
 */
export const guestKmsErrorSchema = z
  .strictObject({ ...errorEnvelopeSchema.shape, error: z.string().min(1) })
  .meta({ id: 'GuestKmsError', description: "A guest KMS call's error: dstack's pRPC error (`error`, what a guest reads) beside the API's error envelope." });
