/**
 * Attestation evidence of a dstack CVM, checked without trusting whoever relayed it.
 *
 * - RTMR3 runtime events (dstack's `cc-eventlog/src/runtime_events.rs`): `system-preparing`, `app-id`,
 *   `compose-hash`, `instance-id`, `boot-mr-done`, `os-image-hash`, `key-provider`, `storage-fs`,
 *   `system-ready`…, each extended into RTMR3 as a SHA-384 digest (event type 0x08000001). `eventDigestV1`/`V2`
 *   compute a digest from an event's name and payload, `replayRtmr3` folds the logged digests into the value
 *   RTMR3 must hold.
 * - The Intel TDX quote (version 4): `parseTdxQuote` reads its header and TD report body (MRTD, RTMR0–3,
 *   report data…). It does not verify the quote's signature: that is DCAP verification's job.
 * - `checkEventLogBinding`: the replay must give the quote's RTMR3, and the `compose-hash`, `app-id` and
 *   `instance-id` events must carry the values the caller expects, so a CVM's code is pinned by the quote.
 * - dstack's RA-TLS certificate extensions (`ra-tls/src/oids.rs`): the quote inside an app certificate.
 * - The marker of a simulated quote (opencvm's simulated host): such a quote has the TDX layout but no valid
 *   signature, so DCAP verification refuses it; `isSimulatedQuote` tells it apart.
 */
import { createHash } from 'node:crypto';
import { decodeOid, derChildren, readDer } from './der.ts';

/** The event type of dstack's runtime events (`DSTACK_RUNTIME_EVENT_TYPE`). */
export const RUNTIME_EVENT_TYPE = 0x08000001;

/** dstack's RA-TLS X.509 extensions (`ra-tls/src/oids.rs`). */
export const RATLS_OID = {
  quote: '1.3.6.1.4.1.62397.1.1',
  eventLog: '1.3.6.1.4.1.62397.1.2',
  appId: '1.3.6.1.4.1.62397.1.3',
} as const;

/** One entry of a dstack event log (`tcb_info.event_log`). */
export interface EventLogEntry {
  imr: number;
  event_type: number;
  /** hex SHA-384 */
  digest: string;
  event: string;
  /** hex */
  event_payload: string;
}

const sha384 = (b: Uint8Array) => createHash('sha384').update(b).digest();
const hexOf = (s: string) => Buffer.from(s.replace(/^0x/i, ''), 'hex');
const norm = (s: string) => s.replace(/^0x/i, '').toLowerCase();

/** Event log version 1: SHA-384( u32_le(type) ‖ ":" ‖ name ‖ ":" ‖ payload ). */
export function eventDigestV1(name: string, payloadHex: string, type = RUNTIME_EVENT_TYPE): string {
  const t = Buffer.alloc(4);
  t.writeUInt32LE(type >>> 0);
  return sha384(Buffer.concat([t, Buffer.from(`:${name}:`, 'utf8'), hexOf(payloadHex)])).toString('hex');
}

/** Event log version 2: SHA-384 of the JCS text `{"name":…,"payload":"<hex>","type":…}`. */
export function eventDigestV2(name: string, payloadHex: string, type = RUNTIME_EVENT_TYPE): string {
  const jcs = `{"name":${JSON.stringify(name)},"payload":${JSON.stringify(norm(payloadHex))},"type":${type}}`;
  return sha384(Buffer.from(jcs, 'utf8')).toString('hex');
}

/** Folds digests into an RTMR: mr = 48 zero bytes; for each, mr = SHA-384(mr ‖ digest). */
export function replayDigests(digests: string[]): string {
  let mr: Buffer = Buffer.alloc(48);
  for (const d of digests) mr = sha384(Buffer.concat([mr, hexOf(d)]));
  return mr.toString('hex');
}

/** The RTMR3 a log implies: the logged digests of its IMR 3 events, in order. */
export function replayRtmr3(events: Pick<EventLogEntry, 'imr' | 'digest'>[]): string {
  return replayDigests(events.filter((e) => e.imr === 3).map((e) => e.digest));
}

// ---------------------------------------------------------------------------------------------
// TDX quote v4

/** The header's QE vendor id of a simulated quote: the ASCII text `SIMULATED-QUOTE!` (16 bytes). */
export const SIMULATED_QE_VENDOR_ID = Buffer.from('SIMULATED-QUOTE!', 'ascii');
/** The header's user data of a simulated quote: `opencvm-simulated` padded with zeros to 20 bytes. */
export const SIMULATED_USER_DATA = Buffer.concat([Buffer.from('opencvm-simulated', 'ascii'), Buffer.alloc(3)]);

const HEADER_LEN = 48;
const BODY_LEN = 584;
/** The TD report body's fields (TDX quote v4, `sgx_report2_body_t` of Intel's DCAP), in order, with their sizes. */
const BODY_FIELDS = [
  ['tee_tcb_svn', 16],
  ['mrseam', 48],
  ['mrsignerseam', 48],
  ['seam_attributes', 8],
  ['td_attributes', 8],
  ['xfam', 8],
  ['mrtd', 48],
  ['mrconfigid', 48],
  ['mrowner', 48],
  ['mrownerconfig', 48],
  ['rtmr0', 48],
  ['rtmr1', 48],
  ['rtmr2', 48],
  ['rtmr3', 48],
  ['report_data', 64],
] as const;

type BodyField = (typeof BODY_FIELDS)[number][0];

export type TdxQuote = Record<BodyField, string> & {
  version: number;
  attestation_key_type: number;
  /** 0x81 for TDX */
  tee_type: number;
  qe_vendor_id: string;
  user_data: string;
  /** length of the signature data that follows the body */
  signature_data_length: number;
  /** the header carries the simulated host's marker: this quote is not hardware evidence */
  simulated: boolean;
};

const asBytes = (q: Uint8Array | string): Buffer => (typeof q === 'string' ? hexOf(q) : Buffer.from(q.buffer, q.byteOffset, q.byteLength));

/** Reads a TDX quote v4 (header, TD report body, signature length); throws on another layout. No signature check. */
export function parseTdxQuote(quote: Uint8Array | string): TdxQuote {
  const b = asBytes(quote);
  if (b.length < HEADER_LEN + BODY_LEN + 4) throw new Error(`not a TDX quote: ${b.length} bytes, a v4 quote has at least ${HEADER_LEN + BODY_LEN + 4}`);
  const version = b.readUInt16LE(0);
  const teeType = b.readUInt32LE(4);
  if (version !== 4) throw new Error(`not a TDX quote v4: version ${version}`);
  if (teeType !== 0x81) throw new Error(`not a TDX quote: TEE type 0x${teeType.toString(16)} (TDX is 0x81)`);
  const out: Partial<TdxQuote> = {
    version,
    attestation_key_type: b.readUInt16LE(2),
    tee_type: teeType,
    qe_vendor_id: b.subarray(12, 28).toString('hex'),
    user_data: b.subarray(28, 48).toString('hex'),
  };
  let p = HEADER_LEN;
  for (const [name, len] of BODY_FIELDS) {
    out[name] = b.subarray(p, p + len).toString('hex');
    p += len;
  }
  out.signature_data_length = b.readUInt32LE(p);
  out.simulated = isSimulatedQuote(b);
  return out as TdxQuote;
}

/** True when a quote's header carries the simulated host's marker (QE vendor id and user data). */
export function isSimulatedQuote(quote: Uint8Array | string): boolean {
  const b = asBytes(quote);
  return b.length >= HEADER_LEN && b.subarray(12, 28).equals(SIMULATED_QE_VENDOR_ID) && b.subarray(28, 48).equals(SIMULATED_USER_DATA);
}

/** What a simulated quote measures (hex). */
export interface SimulatedQuoteInput {
  mrtd: string;
  rtmr0: string;
  rtmr1: string;
  rtmr2: string;
  rtmr3: string;
  report_data: string;
}

/** The text a simulated quote carries where a real one has its ECDSA signature and QE certification data. */
export const SIMULATED_SIGNATURE_TEXT = 'SIMULATED TDX QUOTE: not signed by any Intel quoting enclave; not hardware evidence';

/**
 * A quote with the TDX v4 layout whose header spells the simulated marker and whose signature data is plain
 * text, not an ECDSA signature: any DCAP verifier refuses it.
 */
export function buildSimulatedTdxQuote(m: SimulatedQuoteInput): Buffer {
  const header = Buffer.alloc(HEADER_LEN);
  header.writeUInt16LE(4, 0);
  header.writeUInt16LE(2, 2); // ECDSA-256-with-P-256, as real TDX quotes
  header.writeUInt32LE(0x81, 4);
  SIMULATED_QE_VENDOR_ID.copy(header, 12);
  SIMULATED_USER_DATA.copy(header, 28);
  const values: Partial<Record<BodyField, string>> = { ...m };
  const body = Buffer.concat(
    BODY_FIELDS.map(([name, len]) => {
      const v = Buffer.alloc(len);
      const given = values[name];
      if (given) hexOf(given).copy(v, 0, 0, len);
      return v;
    }),
  );
  const sig = Buffer.from(SIMULATED_SIGNATURE_TEXT, 'ascii');
  const sigLen = Buffer.alloc(4);
  sigLen.writeUInt32LE(sig.length);
  return Buffer.concat([header, body, sigLen, sig]);
}

// ---------------------------------------------------------------------------------------------
// RA-TLS certificates

/**
 * The value of a certificate extension (DER of the X.509 certificate), or null. dstack writes the quote
 * extension's value as a DER OCTET STRING of the quote inside `extnValue`; that inner wrapping is removed.
 */
export function certificateExtension(certDer: Uint8Array, oid: string): Uint8Array | null {
  const cert = readDer(certDer);
  const [tbs] = derChildren(cert.value);
  for (const field of derChildren(tbs.value)) {
    if (field.tag !== 0xa3) continue; // [3] extensions
    const [list] = derChildren(field.value);
    for (const ext of derChildren(list.value)) {
      const parts = derChildren(ext.value);
      if (parts[0]?.tag !== 0x06 || decodeOid(parts[0].value) !== oid) continue;
      const octets = parts[parts.length - 1];
      try {
        const inner = readDer(octets.value);
        if (inner.tag === 0x04 && inner.end === octets.value.length) return inner.value;
      } catch {
        /* not wrapped */
      }
      return octets.value;
    }
  }
  return null;
}

/** The signature algorithm OID of a certificate (its outer `signatureAlgorithm`). */
export function certificateSignatureOid(certDer: Uint8Array): string {
  const [, alg] = derChildren(readDer(certDer).value);
  return decodeOid(derChildren(alg.value)[0].value);
}

// ---------------------------------------------------------------------------------------------
// Binding

export interface BindingCheck {
  /** `event_digests`, `rtmr3`, `compose_hash`, `app_id`, `instance_id`, `app_compose` */
  check: string;
  ok: boolean;
  /** what was compared, or why it failed */
  reason: string;
}

export interface BindingResult {
  /** every check passed */
  ok: boolean;
  /** the RTMR3 the log replays to */
  replayed_rtmr3: string;
  /** the RTMR3 it was compared with (the quote's when one was given), or null */
  rtmr3: string | null;
  rtmr3_source: 'quote' | 'tcb_info' | null;
  checks: BindingCheck[];
}

export interface BindingInput {
  /** the TDX quote (hex or bytes): its RTMR3 is the one the replay must give */
  quote?: Uint8Array | string | null;
  /** RTMR3 as reported beside the log (`tcb_info.rtmr3`), used when no quote is given */
  rtmr3?: string | null;
  event_log: EventLogEntry[];
  /** the app-compose text (`tcb_info.app_compose`): its SHA-256 must be the compose hash */
  app_compose?: string | null;
  /** the values the CVM must run with; a value left out is not checked */
  expected: { compose_hash?: string | null; app_id?: string | null; instance_id?: string | null };
}

/**
 * Checks that an event log is the one the quote measured (replay = RTMR3), that each runtime event's digest
 * is its name and payload's, and that the events bind the expected compose hash, app id and instance id.
 */
export function checkEventLogBinding(input: BindingInput): BindingResult {
  const checks: BindingCheck[] = [];
  const log = input.event_log;
  const runtime = log.filter((e) => e.imr === 3);

  const badDigests = runtime.filter(
    (e) => e.event_type === RUNTIME_EVENT_TYPE && ![eventDigestV1(e.event, e.event_payload), eventDigestV2(e.event, e.event_payload)].includes(norm(e.digest)),
  );
  checks.push({
    check: 'event_digests',
    ok: badDigests.length === 0,
    reason: badDigests.length
      ? `the digest of ${badDigests.map((e) => `"${e.event}"`).join(', ')} is not the SHA-384 of its name and payload`
      : `${runtime.filter((e) => e.event_type === RUNTIME_EVENT_TYPE).length} runtime events, each digest matches its name and payload`,
  });

  const replayed = replayRtmr3(log);
  let rtmr3: string | null = null;
  let source: BindingResult['rtmr3_source'] = null;
  if (input.quote) {
    try {
      rtmr3 = parseTdxQuote(input.quote).rtmr3;
      source = 'quote';
    } catch (e) {
      checks.push({ check: 'rtmr3', ok: false, reason: `the quote cannot be read: ${(e as Error).message}` });
    }
  } else if (input.rtmr3) {
    rtmr3 = norm(input.rtmr3);
    source = 'tcb_info';
  } else {
    checks.push({ check: 'rtmr3', ok: false, reason: 'no quote and no RTMR3 to compare the replay with' });
  }
  if (rtmr3 !== null) {
    checks.push({
      check: 'rtmr3',
      ok: rtmr3 === replayed,
      reason:
        rtmr3 === replayed
          ? `the event log replays to the ${source === 'quote' ? "quote's" : 'reported'} RTMR3`
          : `the event log replays to ${replayed}, the ${source === 'quote' ? "quote's" : 'reported'} RTMR3 is ${rtmr3}`,
    });
  }

  const bound = (event: string, check: string, expected: string | null | undefined) => {
    if (expected === undefined) return;
    const found = runtime.filter((e) => e.event === event && e.event_type === RUNTIME_EVENT_TYPE);
    const want = norm(expected ?? '');
    if (found.length !== 1) {
      checks.push({ check, ok: false, reason: `the event log has ${found.length} "${event}" events, dstack logs exactly one` });
      return;
    }
    const got = norm(found[0].event_payload);
    checks.push({
      check,
      ok: got === want,
      reason: got === want ? `"${event}" is ${want || '(empty)'}` : `"${event}" is ${got || '(empty)'}, expected ${want || '(empty)'}`,
    });
  };
  bound('compose-hash', 'compose_hash', input.expected.compose_hash);
  bound('app-id', 'app_id', input.expected.app_id);
  bound('instance-id', 'instance_id', input.expected.instance_id);

  if (input.app_compose != null) {
    const hash = createHash('sha256').update(input.app_compose, 'utf8').digest('hex');
    const logged = runtime.find((e) => e.event === 'compose-hash');
    const want = input.expected.compose_hash ? norm(input.expected.compose_hash) : logged ? norm(logged.event_payload) : null;
    checks.push(
      want === null
        ? { check: 'app_compose', ok: false, reason: 'no compose hash to compare the app-compose with' }
        : { check: 'app_compose', ok: hash === want, reason: hash === want ? `SHA-256 of the app-compose is ${want}` : `SHA-256 of the app-compose is ${hash}, expected ${want}` },
    );
  }

  return { ok: checks.every((c) => c.ok), replayed_rtmr3: replayed, rtmr3, rtmr3_source: source, checks };
}
