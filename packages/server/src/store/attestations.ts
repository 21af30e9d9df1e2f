/** `attestation_quotes`: quotes verified through `POST /attestations/verify`, by checksum, with their collateral and result. */
import type { Queryable } from '../db/index.ts';

/** An `attestation_quotes` row. */
export interface AttestationQuoteRow {
  checksum: string;
  quote: Buffer;
  tee_type: number;
  collateral: Record<string, unknown>;
  success: boolean;
  tcb_status: string | null;
  advisory_ids: string[];
  reason: string | null;
  verified_at: Date;
  uploaded_at: Date;
  checked_at: Date;
}

export type NewAttestationQuote = Pick<
  AttestationQuoteRow,
  'checksum' | 'quote' | 'tee_type' | 'collateral' | 'success' | 'tcb_status' | 'advisory_ids' | 'reason' | 'verified_at'
>;

const COLUMNS = 'checksum, quote, tee_type, collateral, success, tcb_status, advisory_ids, reason, verified_at, uploaded_at, checked_at';
const SUMMARY = 'checksum, tee_type, success, tcb_status, reason, verified_at, uploaded_at, checked_at';

/**
 * Record a verification: a new quote is inserted; a quote verified before keeps its first upload time and
 * takes this verification's collateral and result. One statement, so a crash leaves the old result or the new.
 */
export async function recordVerification(q: Queryable, v: NewAttestationQuote): Promise<AttestationQuoteRow> {
  const [row] = await q.query<AttestationQuoteRow>(
    `INSERT INTO attestation_quotes (checksum, quote, tee_type, collateral, success, tcb_status, advisory_ids, reason, verified_at)
     VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, $8, $9)
     ON CONFLICT (checksum) DO UPDATE SET
       collateral = EXCLUDED.collateral, success = EXCLUDED.success, tcb_status = EXCLUDED.tcb_status,
       advisory_ids = EXCLUDED.advisory_ids, reason = EXCLUDED.reason, verified_at = EXCLUDED.verified_at,
       checked_at = now(), seq = DEFAULT
     RETURNING ${COLUMNS}`,
    [v.checksum, v.quote, v.tee_type, JSON.stringify(v.collateral), v.success, v.tcb_status, v.advisory_ids, v.reason, v.verified_at],
  );
  return row!;
}

/** The quote with this checksum, if verified here. */
export async function findQuote(q: Queryable, checksum: string): Promise<AttestationQuoteRow | null> {
  const [row] = await q.query<AttestationQuoteRow>(`SELECT ${COLUMNS} FROM attestation_quotes WHERE checksum = $1`, [checksum]);
  return row ?? null;
}

/** The collateral stored with a quote, if any. */
export async function storedCollateral(q: Queryable, checksum: string): Promise<Record<string, unknown> | null> {
  const [row] = await q.query<{ collateral: Record<string, unknown> }>('SELECT collateral FROM attestation_quotes WHERE checksum = $1', [checksum]);
  return row?.collateral ?? null;
}

export type RecentQuoteRow = Omit<AttestationQuoteRow, 'quote' | 'collateral' | 'advisory_ids'>;

/** Quotes by last verification, newest first. */
export function recentQuotes(q: Queryable, skip: number, limit: number): Promise<RecentQuoteRow[]> {
  return q.query<RecentQuoteRow>(
    `SELECT ${SUMMARY} FROM attestation_quotes ORDER BY checked_at DESC, seq DESC OFFSET $1 LIMIT $2`,
    [skip, limit],
  );
}
