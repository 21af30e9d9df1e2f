/**
 * `AttestationService`: Phala's quote verification API (`endpoints/attestations/`). A quote (Intel TDX or SGX
 * DCAP) is verified with Phala's `@phala/dcap-qvl`, offline, against the collateral sent with it or stored with
 * the same quote before, at the caller's time or now. Nothing is fetched from the network: no collateral is a
 * 400 saying to send it. Each quote that parses is recorded by checksum (SHA-256 of its bytes) with its
 * collateral and result, whether it verified or not, so `view`, `raw`, `collateral` and `recent` can show it.
 */
import { createHash } from 'node:crypto';
import * as dcap from '@phala/dcap-qvl';
import {
  ApiError,
  ErrorCodes,
  MAX_QUOTE_BYTES,
  notFound,
  quoteCollateralV3Schema,
  type recentQuotesSchema,
  type verificationResponseSchema,
  type verifyQuoteRequestSchema,
  type z,
} from '@opencvm/contract';
import type { Db } from '../db/index.ts';
import { findQuote, recentQuotes, recordVerification, storedCollateral, type AttestationQuoteRow } from '../store/attestations.ts';

type VerifyRequest = z.output<typeof verifyQuoteRequestSchema>;
type Collateral = z.output<typeof quoteCollateralV3Schema>;
export type VerificationAnswer = z.input<typeof verificationResponseSchema>;

const bad = (code: (typeof ErrorCodes)[keyof typeof ErrorCodes], message: string) => new ApiError(400, code, message);
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** The quote bytes of a request: `file` (a multipart file's bytes, as hex; a file holding hex text is read as that text) or `hex`. */
function quoteBytes(req: VerifyRequest): Buffer {
  if (req.file != null && req.hex != null) throw bad(ErrorCodes.QUOTE_INVALID, 'Send the quote once: as a file or as hex, not both.');
  let text: string;
  if (req.file != null) {
    const bytes = Buffer.from(req.file, 'hex');
    const ascii = bytes.toString('latin1');
    text = /^\s*(0x)?[0-9a-fA-F\s]+$/.test(ascii) && bytes.length > 0 ? ascii : bytes.toString('hex');
  } else if (req.hex != null) {
    text = req.hex;
  } else {
    throw bad(ErrorCodes.QUOTE_INVALID, 'No quote: send it as a multipart `file`, or as `hex` (form field or JSON).');
  }
  const digits = text.replace(/\s+/g, '').replace(/^0x/i, '');
  if (!digits) throw bad(ErrorCodes.QUOTE_INVALID, 'The quote is empty: send the quote bytes (file) or their hex (hex).');
  if (digits.length > MAX_QUOTE_BYTES * 2) {
    throw new ApiError(413, ErrorCodes.QUOTE_TOO_LARGE, `The quote is ${Math.ceil(digits.length / 2)} bytes; at most ${MAX_QUOTE_BYTES} are accepted (a TDX quote is about 5 KB).`);
  }
  if (!/^[0-9a-fA-F]*$/.test(digits) || digits.length % 2 !== 0) {
    throw bad(ErrorCodes.QUOTE_INVALID, 'hex is not hexadecimal: send the quote as an even number of hex digits (0-9, a-f), a 0x prefix allowed.');
  }
  return Buffer.from(digits, 'hex');
}

/** The collateral of a request: an object, or its JSON text (from a form); checked for the shape and its JSON parts. */
function collateralOf(value: VerifyRequest['collateral']): Collateral | null {
  if (value == null) return null;
  let obj: unknown = value;
  if (typeof value === 'string') {
    try {
      obj = JSON.parse(value);
    } catch (err) {
      throw bad(ErrorCodes.COLLATERAL_INVALID, `collateral is not JSON: ${(err as Error).message}. Send Intel's collateral as a QuoteCollateralV3 object.`);
    }
  }
  const r = quoteCollateralV3Schema.safeParse(obj);
  if (!r.success) {
    const fields = [...new Set(r.error.issues.map((i) => i.path.join('.') || 'collateral'))].join(', ');
    throw bad(ErrorCodes.COLLATERAL_INVALID,
      `collateral is not in the QuoteCollateralV3 shape (${fields}): it needs pck_crl_issuer_chain, root_ca_crl, pck_crl, tcb_info_issuer_chain, tcb_info, tcb_info_signature, qe_identity_issuer_chain, qe_identity and qe_identity_signature as text, and nothing else.`);
  }
  for (const field of ['tcb_info', 'qe_identity'] as const) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(r.data[field]);
    } catch {
      parsed = undefined;
    }
    if (typeof parsed !== 'object' || parsed === null) {
      throw bad(ErrorCodes.COLLATERAL_INVALID, `collateral.${field} is not Intel's signed JSON (${field === 'tcb_info' ? 'TCB info' : 'QE identity'}) as text.`);
    }
  }
  return r.data;
}

/** dcap-qvl's error text as a sentence a user can act on. */
export function readableReason(message: string): string {
  const m = message.trim() || 'verification failed';
  const hints: [RegExp, string][] = [
    [/expired/i, 'the collateral is not valid at the verification time: verify at a time it was current (`at`), or send newer collateral'],
    [/not yet valid|future/i, 'the collateral is not valid yet at the verification time: check `at`'],
    [/signature is invalid|signature.*invalid|invalid signature/i, 'a signature does not match: the quote or its collateral was altered, or they do not belong together'],
    [/No matching TCB level/i, "the platform's TCB is not among the levels of the collateral's TCB info: the platform or its collateral is out of date"],
    [/revoked/i, 'a certificate is revoked'],
    [/fmspc|FMSPC/i, "the collateral is for another platform (FMSPC) than the quote's"],
  ];
  const hint = hints.find(([re]) => re.test(m))?.[1];
  return hint ? `${m}: ${hint}.` : `${m}.`;
}

/** Phala's Quote shape from a parsed quote. */
function quoteShape(raw: Buffer, verified: boolean) {
  const q = dcap.Quote.parse(raw);
  const report = q.report as { type: string; data: any };
  const td = report.type === 'td15' ? report.data.base : report.type === 'td10' ? report.data : null;
  const zero = (n: number) => '00'.repeat(n);
  const f = (v: Uint8Array | undefined, n: number) => (v ? toHex(v) : zero(n));
  const sgx = td ? null : report.data;
  let certData: string | null = null;
  try {
    const chain = q.rawCertChain();
    certData = chain && chain.length ? Buffer.from(chain).toString('latin1').replace(/\0+$/, '') : null;
  } catch {
    certData = null;
  }
  return {
    header: {
      version: q.header.version,
      ak_type: q.header.attestationKeyType,
      tee_type: q.header.teeType,
      qe_vendor: toHex(q.header.qeVendorId),
      user_data: toHex(q.header.userData),
    },
    cert_data: certData,
    body: {
      tee_tcb_svn: f(td?.teeTcbSvn, 16),
      mrseam: f(td?.mrSeam, 48),
      mrsignerseam: f(td?.mrSignerSeam, 48),
      seamattributes: f(td?.seamAttributes, 8),
      tdattributes: f(td?.tdAttributes ?? sgx?.attributes, 8),
      xfam: f(td?.xfam, 8),
      mrtd: f(td?.mrTd ?? sgx?.mrEnclave, 48),
      mrconfig: f(td?.mrConfigId, 48),
      mrowner: f(td?.mrOwner ?? sgx?.mrSigner, 48),
      mrownerconfig: f(td?.mrOwnerConfig, 48),
      rtmr0: f(td?.rtMr0, 48),
      rtmr1: f(td?.rtMr1, 48),
      rtmr2: f(td?.rtMr2, 48),
      rtmr3: f(td?.rtMr3, 48),
      reportdata: f(td?.reportData ?? sgx?.reportData, 64),
    },
    verified,
  };
}

export class AttestationService {
  constructor(private readonly db: Db) {}

  /** Verify a quote (see the class comment); the answer is 200 whether it verified or not. */
  async verify(req: VerifyRequest): Promise<VerificationAnswer> {
    const raw = quoteBytes(req);
    let teeType: number;
    try {
      teeType = dcap.Quote.parse(raw).header.teeType;
    } catch (err) {
      throw bad(ErrorCodes.QUOTE_INVALID, `This is not an Intel DCAP quote (SGX or TDX, version 3 to 5): ${(err as Error).message}.`);
    }
    const checksum = createHash('sha256').update(raw).digest('hex');
    const given = collateralOf(req.collateral);
    const collateral = given ?? (await this.stored(checksum));
    const at = req.at ?? Date.now() / 1000;
    let success = false;
    let tcbStatus: string | null = null;
    let advisories: string[] = [];
    let reason: string | null = null;
    try {
      const r = dcap.verify(raw, collateral as Parameters<typeof dcap.verify>[1], at);
      success = true;
      tcbStatus = String(r.status);
      advisories = [...(r.advisory_ids ?? [])].map(String);
    } catch (err) {
      reason = readableReason(err instanceof Error ? err.message : String(err));
    }
    const row = await recordVerification(this.db, {
      checksum,
      quote: raw,
      tee_type: teeType,
      collateral,
      success,
      tcb_status: tcbStatus,
      advisory_ids: advisories,
      reason,
      verified_at: new Date(at * 1000),
    });
    return this.answer(row);
  }

  private async stored(checksum: string): Promise<Collateral> {
    const found = await storedCollateral(this.db, checksum);
    const r = found ? quoteCollateralV3Schema.safeParse(found) : undefined;
    if (!r?.success) {
      throw bad(ErrorCodes.COLLATERAL_REQUIRED,
        "No collateral: send Intel's collateral for this quote as `collateral` (QuoteCollateralV3, e.g. from a PCCS or Intel's PCS). opencvm verifies offline and keeps the collateral a quote was verified with, so it is needed once per quote.");
    }
    return r.data;
  }

  async view(checksum: string): Promise<VerificationAnswer> {
    return this.answer(await this.find(checksum));
  }

  async collateral(checksum: string): Promise<Collateral> {
    return quoteCollateralV3Schema.parse((await this.find(checksum)).collateral);
  }

  async raw(checksum: string): Promise<Buffer> {
    return (await this.find(checksum)).quote;
  }

  async recent(skip: number, limit: number): Promise<z.input<typeof recentQuotesSchema>> {
    const rows = await recentQuotes(this.db, skip, limit);
    return rows.map((r) => ({
      id: r.checksum,
      checksum: r.checksum,
      success: r.success,
      tee_type: r.tee_type,
      tcb_status: r.tcb_status,
      reason: r.reason,
      uploaded_at: r.uploaded_at.toISOString(),
      verified_at: r.verified_at.toISOString(),
    }));
  }

  private async find(checksum: string): Promise<AttestationQuoteRow> {
    const normalized = checksum.trim().toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(normalized)) {
      throw notFound(ErrorCodes.QUOTE_NOT_FOUND, `"${checksum.slice(0, 80)}" is not a quote checksum: use the 64 hex digits (SHA-256 of the quote) that POST /attestations/verify answered as checksum.`);
    }
    const row = await findQuote(this.db, normalized);
    if (!row) {
      throw notFound(ErrorCodes.QUOTE_NOT_FOUND, `No quote with checksum ${normalized} was verified here: verify it with POST /attestations/verify first.`);
    }
    return row;
  }

  private answer(row: AttestationQuoteRow): VerificationAnswer {
    return {
      id: row.checksum,
      success: row.success,
      proof_of_cloud: false,
      quote: quoteShape(row.quote, row.success),
      checksum: row.checksum,
      can_download: true,
      uploaded_at: row.uploaded_at.toISOString(),
      quote_collateral: quoteCollateralV3Schema.parse(row.collateral),
      tcb_status: row.tcb_status,
      advisory_ids: row.advisory_ids,
      reason: row.reason,
      verified_at: row.verified_at.toISOString(),
    };
  }
}
