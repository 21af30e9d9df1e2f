/**
 * Phala Cloud's quote verification API (`/attestations/verify`, `recent`, `view`, `collateral`, `raw`): anyone may
 * verify an Intel TDX (or SGX) DCAP quote, offline, against collateral sent with it or stored with the same quote
 * before, at a time the caller may give. Verified and refused quotes are kept by checksum (SHA-256 of the
 * quote bytes). Unauthenticated and not tied to a workspace, as Phala's.
 */
import { defineEndpoint } from '../endpoint.ts';
import { ErrorCodes as E } from '../errors.ts';
import { quoteChecksumParams, recentQuotesQuery, verifyQuoteRequestSchema } from '../requests/attestations.ts';
import { quoteCollateralV3Schema, recentQuotesSchema, verificationResponseSchema } from '../shapes/attestations.ts';

const NOT_FOUND = { 404: [E.QUOTE_NOT_FOUND] } as const;

export const verifyQuote = defineEndpoint({
  id: 'verifyQuote',
  method: 'POST',
  path: '/api/v1/attestations/verify',
  summary: 'Verify a TEE quote',
  description:
    "The quote as a multipart `file`, or as `hex` (form field or JSON; a 0x prefix is fine), at most 64 KiB. Verified with Phala's dcap-qvl against `collateral` (Intel's collateral, QuoteCollateralV3) or, left out, the collateral stored with the same quote before; no collateral anywhere is 400 `ERR-12-003` (the server does not fetch any). `at` sets the verification time (seconds since 1970 or ISO 8601; default now): collateral expires. A quote that parses is answered 200 whether it verified or not: `success`, `tcb_status`, `advisory_ids`, and on refusal `reason`. Input that is not a quote is 400 `ERR-12-001`.",
  tag: 'Attestations',
  auth: 'public',
  body: { json: verifyQuoteRequestSchema, multipart: true },
  success: { status: 200, description: 'The verification result (success false with a reason if refused)', json: verificationResponseSchema },
  errors: { 400: [E.QUOTE_INVALID, E.COLLATERAL_REQUIRED, E.COLLATERAL_INVALID], 413: [E.QUOTE_TOO_LARGE] },
});

export const listRecentQuotes = defineEndpoint({
  id: 'listRecentQuotes',
  method: 'GET',
  path: '/api/v1/attestations/recent',
  summary: 'Recently verified quotes',
  description: 'Quotes verified here, the most recently verified first (`skip`, `limit` 1–100, default 20).',
  tag: 'Attestations',
  auth: 'public',
  query: recentQuotesQuery,
  success: { status: 200, description: 'The quotes, newest first', json: recentQuotesSchema },
});

export const viewQuote = defineEndpoint({
  id: 'viewQuote',
  method: 'GET',
  path: '/api/v1/attestations/view/{checksum}',
  summary: 'A verified quote',
  description: 'The parsed quote and the result of its last verification, by checksum (SHA-256 of the quote bytes, hex).',
  tag: 'Attestations',
  auth: 'public',
  params: quoteChecksumParams,
  success: { status: 200, description: 'The quote and its verification', json: verificationResponseSchema },
  errors: NOT_FOUND,
});

export const getQuoteCollateral = defineEndpoint({
  id: 'getQuoteCollateral',
  method: 'GET',
  path: '/api/v1/attestations/collateral/{checksum}',
  summary: "A quote's collateral",
  description: 'The collateral the quote was last verified against.',
  tag: 'Attestations',
  auth: 'public',
  params: quoteChecksumParams,
  success: { status: 200, description: 'The collateral', json: quoteCollateralV3Schema },
  errors: NOT_FOUND,
});

export const getRawQuote = defineEndpoint({
  id: 'getRawQuote',
  method: 'GET',
  path: '/api/v1/attestations/raw/{checksum}',
  summary: 'Download a raw quote',
  description: 'The quote bytes as uploaded (`application/octet-stream`). `HEAD` answers the same status and Content-Length without the body.',
  tag: 'Attestations',
  auth: 'public',
  params: quoteChecksumParams,
  success: { status: 200, description: 'The quote', media: [{ type: 'application/octet-stream', description: 'the raw quote' }] },
  errors: NOT_FOUND,
});
