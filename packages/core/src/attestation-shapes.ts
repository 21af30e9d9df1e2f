/**
 * The attestation answers (`GET /cvms/{id}/attestation`, `GET /apps/{app_id}/attestations`) built from what a
 * guest agent's `Info` reported (dstack's AppInfo) and the CVM's records: the certificate chain summarised as
 * Phala's `CertificateSchema`, `tcb_info` as `TcbInfoSchema`, and the replay of the event log against the
 * CVM's recorded compose hash, app id and instance id.
 */
import { X509Certificate } from 'node:crypto';
import type {
  appAttestationInstanceSchema,
  attestationCertificateSchema,
  cvmAttestationSchema,
  eventLogVerificationSchema,
  prpc,
  tcbInfoSchema,
  z,
} from '@opencvm/contract';
import { RATLS_OID, certificateExtension, certificateSignatureOid, checkEventLogBinding, isSimulatedQuote } from './attestation.ts';
import { derChildren, readDer } from './der.ts';
import type { CvmView } from './shapes.ts';
import { composeFlags } from './shapes.ts';

type Certificate = z.input<typeof attestationCertificateSchema>;
type TcbInfo = z.input<typeof tcbInfoSchema>;
type Verification = z.input<typeof eventLogVerificationSchema>;

const SIGNATURE_ALGORITHMS: Record<string, string> = {
  '1.2.840.10045.4.3.2': 'ecdsa-with-SHA256',
  '1.2.840.10045.4.3.3': 'ecdsa-with-SHA384',
  '1.2.840.10045.4.3.4': 'ecdsa-with-SHA512',
  '1.2.840.113549.1.1.11': 'sha256WithRSAEncryption',
  '1.2.840.113549.1.1.12': 'sha384WithRSAEncryption',
  '1.3.101.112': 'ed25519',
};

const PEM = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

function nameParts(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0 && !m.has(line.slice(0, i))) m.set(line.slice(0, i), line.slice(i + 1));
  }
  return m;
}

function x509Version(der: Uint8Array): string {
  const [tbs] = derChildren(readDer(der).value);
  const first = derChildren(tbs.value)[0];
  if (first?.tag !== 0xa0) return 'v1';
  const v = readDer(first.value).value;
  return `v${(v[v.length - 1] ?? 0) + 1}`;
}

/** Each certificate of a PEM chain as Phala's `CertificateSchema`, leaf first. A PEM block that does not parse is left out. */
export function certificateSummaries(pemChain: string): Certificate[] {
  const out: Certificate[] = [];
  for (const block of pemChain.match(PEM) ?? []) {
    let x: X509Certificate;
    try {
      x = new X509Certificate(block);
    } catch {
      continue;
    }
    const raw = new Uint8Array(x.raw);
    const s = nameParts(x.subject);
    const i = nameParts(x.issuer);
    const quote = certificateExtension(raw, RATLS_OID.quote);
    const appId = certificateExtension(raw, RATLS_OID.appId);
    const oid = certificateSignatureOid(raw);
    out.push({
      subject: { common_name: s.get('CN') ?? null, organization: s.get('O') ?? null, country: s.get('C') ?? null, state: s.get('ST') ?? null, locality: s.get('L') ?? null },
      issuer: { common_name: i.get('CN') ?? null, organization: i.get('O') ?? null, country: i.get('C') ?? null },
      serial_number: x.serialNumber.toLowerCase(),
      not_before: new Date(x.validFrom).toISOString(),
      not_after: new Date(x.validTo).toISOString(),
      version: x509Version(raw),
      fingerprint: x.fingerprint256.replace(/:/g, '').toLowerCase(),
      signature_algorithm: SIGNATURE_ALGORITHMS[oid] ?? oid,
      sans: x.subjectAltName ? x.subjectAltName.split(', ') : null,
      is_ca: x.ca,
      position_in_chain: out.length,
      quote: quote ? Buffer.from(quote).toString('hex') : null,
      app_id: appId ? Buffer.from(appId).toString('hex') : null,
      cert_usage: quote ? 'app' : x.ca ? 'ca' : null,
    });
  }
  return out;
}

/** `tcb_info` of AppInfo (a JSON text) as `TcbInfoSchema`; null when empty (`public_tcbinfo` false). Throws on one that is not JSON. */
export function tcbInfoOf(text: string): TcbInfo | null {
  if (!text) return null;
  const t = JSON.parse(text) as Record<string, unknown>;
  const str = (k: string) => (typeof t[k] === 'string' ? (t[k] as string) : '');
  const log = Array.isArray(t.event_log) ? (t.event_log as Record<string, unknown>[]) : [];
  return {
    mrtd: str('mrtd'),
    rootfs_hash: typeof t.rootfs_hash === 'string' ? t.rootfs_hash : null,
    rtmr0: str('rtmr0'),
    rtmr1: str('rtmr1'),
    rtmr2: str('rtmr2'),
    rtmr3: str('rtmr3'),
    event_log: log.map((e) => ({
      imr: Number(e.imr) || 0,
      event_type: Number(e.event_type) || 0,
      digest: String(e.digest ?? ''),
      event: String(e.event ?? ''),
      event_payload: String(e.event_payload ?? ''),
    })),
    app_compose: str('app_compose'),
  };
}

/** What the guest reported, or why nothing could be read. */
export type GuestEvidence = { info: prpc.GuestAppInfo } | { error: string };

interface Evidence {
  is_online: boolean;
  error: string | null;
  app_certificates: Certificate[] | null;
  tcb_info: TcbInfo | null;
  compose_file: string | null;
  quote: string | null;
  simulated: boolean | null;
  event_log_verification: Verification | null;
}

function evidenceOf(c: Pick<CvmView, 'compose_hash' | 'app_id' | 'instance_id'>, got: GuestEvidence): Evidence {
  if ('error' in got) {
    return { is_online: false, error: got.error, app_certificates: null, tcb_info: null, compose_file: null, quote: null, simulated: null, event_log_verification: null };
  }
  const certs = certificateSummaries(got.info.app_cert);
  const quote = certs.find((x) => x.quote)?.quote ?? null;
  let tcb: TcbInfo | null = null;
  let error: string | null = null;
  try {
    tcb = tcbInfoOf(got.info.tcb_info);
  } catch {
    error = "the guest agent's tcb_info is not JSON";
  }
  let verification: Verification | null = null;
  if (tcb) {
    const expected = { compose_hash: c.compose_hash, app_id: c.app_id, instance_id: c.instance_id };
    const r = checkEventLogBinding({
      quote,
      rtmr3: tcb.rtmr3,
      event_log: tcb.event_log,
      app_compose: tcb.app_compose,
      expected: { compose_hash: c.compose_hash, app_id: c.app_id, instance_id: c.instance_id ?? undefined },
    });
    verification = { ...r, expected, hardware_verified: false };
  }
  return {
    is_online: true,
    error,
    app_certificates: certs,
    tcb_info: tcb,
    compose_file: tcb?.app_compose || null,
    quote,
    simulated: quote ? isSimulatedQuote(quote) : null,
    event_log_verification: verification,
  };
}

/** `GET /cvms/{id}/attestation`. */
export function cvmAttestationShape(c: CvmView, got: GuestEvidence): z.input<typeof cvmAttestationSchema> {
  const e = evidenceOf(c, got);
  return {
    name: c.name,
    is_online: e.is_online,
    is_public: composeFlags(c.app_compose).public_tcbinfo,
    error: e.error,
    app_certificates: e.app_certificates,
    tcb_info: e.tcb_info,
    compose_file: e.compose_file,
    simulated: e.simulated,
    event_log_verification: e.event_log_verification,
  };
}

/** One instance of `GET /apps/{app_id}/attestations`. */
export function appAttestationInstance(c: CvmView, got: GuestEvidence): z.input<typeof appAttestationInstanceSchema> {
  const e = evidenceOf(c, got);
  return {
    vm_uuid: c.vm_uuid,
    name: c.name,
    instance_id: c.instance_id,
    status: c.status,
    image_version: c.image_version,
    quote: e.quote,
    ppid: c.node.ppid,
    device_id: c.node.device_id,
    tcb_info: e.tcb_info,
    app_certificates: e.app_certificates,
    compose_file: e.compose_file,
    error: e.error,
    simulated: e.simulated,
    event_log_verification: e.event_log_verification,
  };
}
