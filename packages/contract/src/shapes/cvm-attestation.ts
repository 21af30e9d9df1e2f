/**
 * Attestation answers: `GET /cvms/{id}/attestation` (Phala's `CvmAttestationSchema`) and
 * `GET /apps/{app_id}/attestations` (`AppAttestationResponseSchema`), read from the guest agent's `Info`
 * (dstack's AppInfo: the RA-TLS app certificate chain, `tcb_info` with the event log and app-compose).
 * Beyond Phala's keys: `simulated` (the quote carries the simulated host's marker: not hardware evidence) and
 * `event_log_verification` (the server's replay of RTMR3 against the CVM's recorded compose hash, app id and
 * instance id). Neither is a DCAP verification of the quote.
 */
import { z } from 'zod';
import { nullableString } from './common.ts';

/** One X.509 certificate of the app's chain (`CertificateSchema`). */
export const attestationCertificateSchema = z
  .strictObject({
    subject: z.strictObject({ common_name: nullableString, organization: nullableString, country: nullableString, state: nullableString, locality: nullableString }),
    issuer: z.strictObject({ common_name: nullableString, organization: nullableString, country: nullableString }),
    serial_number: z.string(),
    not_before: z.string(),
    not_after: z.string(),
    version: z.string(),
    /** SHA-256 of the DER, hex */
    fingerprint: z.string(),
    signature_algorithm: z.string(),
    sans: z.array(z.string()).nullable(),
    is_ca: z.boolean(),
    position_in_chain: z.number().int().nullable(),
    /** the TDX quote of dstack's RA-TLS extension 1.3.6.1.4.1.62397.1.1, hex; null for a certificate without one */
    quote: nullableString,
    app_id: nullableString.optional(),
    cert_usage: nullableString.optional(),
  })
  .meta({ id: 'AttestationCertificate' });

/** One event of the guest's event log (`tcb_info.event_log`). */
export const eventLogEntrySchema = z
  .strictObject({ imr: z.number().int(), event_type: z.number().int(), digest: z.string(), event: z.string(), event_payload: z.string() })
  .meta({ id: 'EventLogEntry' });

/** `TcbInfoSchema`: the measurements, the event log and the app-compose text. */
export const tcbInfoSchema = z
  .strictObject({
    mrtd: z.string(),
    rootfs_hash: nullableString.optional(),
    rtmr0: z.string(),
    rtmr1: z.string(),
    rtmr2: z.string(),
    rtmr3: z.string(),
    event_log: z.array(eventLogEntrySchema),
    app_compose: z.string(),
  })
  .meta({ id: 'TcbInfo' });

/** The server's replay of the event log (core's `checkEventLogBinding`), against the CVM's own records. */
export const eventLogVerificationSchema = z
  .strictObject({
    /** every check passed */
    ok: z.boolean(),
    replayed_rtmr3: z.string(),
    /** the RTMR3 compared with: the quote's, else the one `tcb_info` reports */
    rtmr3: nullableString,
    rtmr3_source: z.enum(['quote', 'tcb_info']).nullable(),
    /** what the events must bind: the CVM's recorded values */
    expected: z.strictObject({ compose_hash: z.string(), app_id: z.string(), instance_id: nullableString }),
    checks: z.array(z.strictObject({ check: z.string(), ok: z.boolean(), reason: z.string() })),
    /** always false: the quote's signature is not checked here (POST /attestations/verify does DCAP) */
    hardware_verified: z.literal(false),
  })
  .meta({ id: 'EventLogVerification' });

/** `GET /cvms/{id}/attestation`. */
export const cvmAttestationSchema = z
  .strictObject({
    name: nullableString,
    /** the guest agent answered */
    is_online: z.boolean(),
    /** the app-compose's `public_tcbinfo`: whether the guest shows its event log and app-compose */
    is_public: z.boolean(),
    /** why there is no evidence (the CVM is not running, its host or guest does not answer), else null */
    error: nullableString,
    app_certificates: z.array(attestationCertificateSchema).nullable(),
    tcb_info: tcbInfoSchema.nullable(),
    compose_file: nullableString,
    /** the quote carries the simulated host's marker (no TDX hardware signed it); null without a quote */
    simulated: z.boolean().nullable(),
    /** null when there is no event log to replay (offline, or `public_tcbinfo` false) */
    event_log_verification: eventLogVerificationSchema.nullable(),
  })
  .meta({ id: 'CvmAttestation' });

/** `kms_info` of `GET /apps/{app_id}/attestations` (`chain_id` is a string there). */
export const attestationKmsInfoSchema = z.strictObject({
  contract_address: z.string(),
  chain_id: nullableString,
  version: z.string(),
  url: z.string(),
  gateway_app_id: nullableString,
  gateway_app_url: z.string(),
  kms_type: z.string(),
});

/** One CVM of the app in `GET /apps/{app_id}/attestations`. */
export const appAttestationInstanceSchema = z
  .strictObject({
    vm_uuid: nullableString,
    name: z.string(),
    instance_id: nullableString,
    status: z.string(),
    image_version: nullableString,
    /** the TDX quote of the app certificate, hex */
    quote: nullableString,
    ppid: z.string(),
    device_id: z.string(),
    tcb_info: tcbInfoSchema.nullable(),
    app_certificates: z.array(attestationCertificateSchema).nullable(),
    compose_file: nullableString,
    error: nullableString,
    simulated: z.boolean().nullable(),
    event_log_verification: eventLogVerificationSchema.nullable(),
  })
  .meta({ id: 'AppAttestationInstance' });

/** `GET /apps/{app_id}/attestations` (`AppAttestationResponseSchema`). */
export const appAttestationSchema = z
  .strictObject({
    app_id: z.string(),
    /** the app's contract (an on-chain KMS app), else "" */
    contract_address: z.string(),
    kms_info: attestationKmsInfoSchema,
    instances: z.array(appAttestationInstanceSchema),
    /** this server runs no KMS or gateway CVM: null */
    kms_guest_agent_info: z.null(),
    gateway_guest_agent_info: z.null(),
    qemu_version: nullableString,
  })
  .meta({ id: 'AppAttestation' });
