/** Answers of the quote verification API (Phala Cloud's `/attestations/*`), in Phala's shapes. */
import { z } from 'zod';

/** Intel's collateral for a DCAP quote as Phala's API and `dcap-qvl` write it (CRLs as hex, the rest PEM / JSON text). */
export const quoteCollateralV3Schema = z
  .object({
    pck_crl_issuer_chain: z.string(),
    root_ca_crl: z.string().nullable(),
    pck_crl: z.string(),
    tcb_info_issuer_chain: z.string(),
    tcb_info: z.string(),
    tcb_info_signature: z.string(),
    qe_identity_issuer_chain: z.string(),
    qe_identity: z.string(),
    qe_identity_signature: z.string(),
  })
  .strict()
  .meta({ id: 'QuoteCollateralV3' });

const hex = z.string().describe('hex');

/** Phala's QuoteHeader: version, attestation key type (2: ECDSA-256), TEE type (0: SGX, 129: TDX), QE vendor and user data as hex. */
export const quoteHeaderSchema = z
  .object({ version: z.number().int(), ak_type: z.number().int(), tee_type: z.number().int(), qe_vendor: hex, user_data: hex })
  .strict()
  .meta({ id: 'QuoteHeader' });

/** Phala's QuoteBody: the TD report's measurements, each as hex. */
export const quoteBodySchema = z
  .object({
    tee_tcb_svn: hex,
    mrseam: hex,
    mrsignerseam: hex,
    seamattributes: hex,
    tdattributes: hex,
    xfam: hex,
    mrtd: hex,
    mrconfig: hex,
    mrowner: hex,
    mrownerconfig: hex,
    rtmr0: hex,
    rtmr1: hex,
    rtmr2: hex,
    rtmr3: hex,
    reportdata: hex,
  })
  .strict()
  .meta({ id: 'QuoteBody' });

/** Phala's Quote: the parsed quote (`cert_data`: the PCK certificate chain, PEM) and whether it verified. */
export const quoteSchema = z
  .object({ header: quoteHeaderSchema, cert_data: z.string().nullable(), body: quoteBodySchema, verified: z.boolean() })
  .strict()
  .meta({ id: 'Quote' });

/**
 * Phala's VerificationResponse, plus what opencvm adds: the TCB status, Intel's advisory ids, the reason of a
 * refusal and the time the quote was verified at. `proof_of_cloud` is always false: opencvm does not claim a
 * quote comes from its hosts.
 */
export const verificationResponseSchema = z
  .object({
    id: z.string().describe('the quote checksum'),
    success: z.boolean().describe('whether the quote verified'),
    proof_of_cloud: z.boolean(),
    quote: quoteSchema.nullable(),
    checksum: z.string().nullable().describe('SHA-256 of the quote bytes, hex'),
    can_download: z.boolean().nullable(),
    uploaded_at: z.string().nullable().describe('when the quote was first uploaded (ISO 8601)'),
    quote_collateral: quoteCollateralV3Schema.nullable(),
    tcb_status: z.string().nullable().describe('opencvm: the TCB status when verified (UpToDate, SWHardeningNeeded, OutOfDate, …), null if refused'),
    advisory_ids: z.array(z.string()).describe("opencvm: Intel's security advisories for that TCB level (INTEL-SA-…)"),
    reason: z.string().nullable().describe('opencvm: why the quote was refused, null if it verified'),
    verified_at: z.string().describe('opencvm: the time the quote was verified at (ISO 8601), the request\'s `at` or the time of the request'),
  })
  .strict()
  .meta({ id: 'VerificationResponse' });

/** One quote of `GET /attestations/recent`. */
export const recentQuoteSchema = z
  .object({
    id: z.string(),
    checksum: z.string(),
    success: z.boolean(),
    tee_type: z.number().int(),
    tcb_status: z.string().nullable(),
    reason: z.string().nullable(),
    uploaded_at: z.string(),
    verified_at: z.string(),
  })
  .strict()
  .meta({ id: 'RecentQuote' });

export const recentQuotesSchema = z.array(recentQuoteSchema);
