/** Requests of the quote verification API (Phala Cloud's `/attestations/*`). */
import { z } from 'zod';
import { quoteCollateralV3Schema } from '../shapes/attestations.ts';

/** The largest quote accepted, in bytes (a TDX quote with its certificate chain is about 5 KB). */
export const MAX_QUOTE_BYTES = 64 * 1024;

/**
 * The time a quote is verified at: seconds since 1970 (a number, or digits as text in a form) or an ISO 8601
 * date-time. Collateral expires (its TCB info's `nextUpdate`), so verifying an old quote against its own
 * collateral needs a time from when that collateral was current.
 */
export const verificationTimeSchema = z
  .union([z.number(), z.string()], { error: 'at must be seconds since 1970 (a number) or an ISO 8601 date-time' })
  .transform((v, ctx) => {
    const seconds = typeof v === 'number' ? v : /^\s*\d+(\.\d+)?\s*$/.test(v) ? Number(v) : Date.parse(v) / 1000;
    if (!Number.isFinite(seconds) || seconds < 0 || seconds > 253402300799) {
      ctx.addIssue({ code: 'custom', message: `at must be seconds since 1970 or an ISO 8601 date-time (e.g. 2025-06-19T11:16:03Z), not ${JSON.stringify(v)}` });
      return z.NEVER;
    }
    return seconds;
  });

/**
 * `POST /attestations/verify`: Phala's `file` (multipart upload of the raw quote) or `hex` (the quote as hex, an
 * optional `0x` prefix and whitespace ignored), as a multipart form or JSON. opencvm adds `collateral` (Intel's
 * collateral for the quote, in Phala's QuoteCollateralV3 shape; in a form, that JSON as text) and `at` (the
 * verification time; default now). Without collateral, the collateral stored with the same quote before is used.
 */
export const verifyQuoteRequestSchema = z.object({
  file: z.string({ error: 'file must be the quote uploaded as a multipart file' }).nullish()
    .describe('the raw quote, uploaded as a file part of a multipart/form-data request'),
  hex: z.string({ error: 'hex must be text: the quote as hexadecimal' }).nullish()
    .describe('the quote as hexadecimal (0x prefix optional)'),
  collateral: z.union([quoteCollateralV3Schema, z.string()], {
    error: 'collateral must be an object with pck_crl_issuer_chain, root_ca_crl, pck_crl, tcb_info_issuer_chain, tcb_info, tcb_info_signature, qe_identity_issuer_chain, qe_identity, qe_identity_signature (strings), or that object as JSON text',
  }).nullish()
    .describe("Intel's collateral for the quote (QuoteCollateralV3; JSON text in a form). Left out: the collateral stored with this quote before"),
  at: verificationTimeSchema.nullish()
    .describe('verify at this time: seconds since 1970 or an ISO 8601 date-time; default now'),
});

export const recentQuotesQuery = z.object({
  skip: z.coerce.number({ error: 'skip must be a whole number ≥ 0' }).int('skip must be a whole number ≥ 0').min(0, 'skip must be ≥ 0').default(0),
  limit: z.coerce.number({ error: 'limit must be a whole number from 1 to 100' }).int('limit must be a whole number').min(1, 'limit must be at least 1').max(100, 'limit is at most 100').default(20),
});

export const quoteChecksumParams = z.object({
  checksum: z.string().min(1, 'the checksum must not be empty').max(200, 'the checksum is at most 200 characters'),
});
