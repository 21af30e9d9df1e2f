/**
 * Checking a CVM's attestation evidence on the client, trusting neither the control plane nor its answer:
 * `verifyCvmAttestation(answer, expected)` replays the event log of a `GET /cvms/{id}/attestation` answer
 * (ours or Phala Cloud's, e.g. `@phala/cloud`'s `getCvmAttestation`) and checks that
 * - each runtime event's digest is the SHA-384 of its name and payload (dstack's event log v1 or v2),
 * - the replay gives the RTMR3 of the TDX quote in the app certificate (else the reported `tcb_info.rtmr3`),
 * - the `compose-hash`, `app-id` and `instance-id` events carry the values you expect, and the app-compose
 *   hashes to that compose hash.
 * Pass the compose hash you computed from your own app-compose (or the app-compose itself): without it the
 * check only shows the evidence is self-consistent. This does not check the quote's signature (Intel DCAP
 * verification, e.g. `POST /attestations/verify` or dcap-qvl): until that is done, the quote's RTMR3 is only
 * as good as its source. A quote from opencvm's simulated host says so: `simulated: true`.
 */
import * as api from '@opencvm/contract';
import { checkEventLogBinding, isSimulatedQuote, type BindingResult, type EventLogEntry } from '@opencvm/core';
import { createHash } from 'node:crypto';
import { callEndpoint, type AnswerOf } from './call.ts';
import type { Client } from './index.ts';
import type { CvmId } from './updates.ts';

export type CvmAttestation = AnswerOf<typeof api.getCvmAttestation>;
export type AppAttestation = AnswerOf<typeof api.getAppAttestation>;

/** `GET /cvms/{id}/attestation`: the evidence as the CVM's guest agent reports it now. */
export function getCvmAttestation(client: Client, p: { id: CvmId }): Promise<CvmAttestation> {
  return callEndpoint(client, api.getCvmAttestation, { params: { id: p.id } });
}

/** `GET /apps/{app_id}/attestations`: the evidence of each live CVM of the app. */
export function getAppAttestation(client: Client, p: { appId: string }): Promise<AppAttestation> {
  return callEndpoint(client, api.getAppAttestation, { params: { app_id: p.appId } });
}

/** The parts of an attestation answer the check reads (Phala's `CvmAttestationSchema` has them too). */
export interface AttestationEvidence {
  app_certificates?: { quote?: string | null }[] | null;
  tcb_info?: { rtmr3: string; event_log: EventLogEntry[]; app_compose: string } | null;
}

export interface ExpectedCvm {
  /** the SHA-256 of the app-compose you deployed (the `compose_hash` provision answered) */
  compose_hash?: string;
  /** the app-compose text you deployed: its hash is the expected compose hash, and the reported one must equal it */
  app_compose?: string;
  app_id?: string;
  /** the instance id you expect ("" for an app-compose with `no_instance_id`) */
  instance_id?: string;
}

export interface AttestationCheck extends BindingResult {
  /** the quote carries the simulated host's marker: it is not hardware evidence; null without a quote */
  simulated: boolean | null;
  /** always false: the quote's signature is not checked here */
  hardware_verified: false;
}

/** Replays the event log of an attestation answer and checks what it binds (see the module's comment). */
export function verifyCvmAttestation(answer: AttestationEvidence, expected: ExpectedCvm = {}): AttestationCheck {
  const quote = answer.app_certificates?.find((c) => c.quote)?.quote ?? null;
  const simulated = quote ? isSimulatedQuote(quote) : null;
  const tcb = answer.tcb_info;
  if (!tcb) {
    return {
      ok: false,
      replayed_rtmr3: '',
      rtmr3: null,
      rtmr3_source: null,
      checks: [{ check: 'event_log', ok: false, reason: 'the answer has no event log: the CVM is offline, or its app-compose sets public_tcbinfo false' }],
      simulated,
      hardware_verified: false,
    };
  }
  const ownHash = expected.app_compose !== undefined ? createHash('sha256').update(expected.app_compose, 'utf8').digest('hex') : undefined;
  const checks: BindingResult['checks'] = [];
  if (ownHash && expected.compose_hash && ownHash !== expected.compose_hash.toLowerCase()) {
    checks.push({ check: 'expected', ok: false, reason: `the app-compose given hashes to ${ownHash}, not to the compose hash given (${expected.compose_hash})` });
  }
  const r = checkEventLogBinding({
    quote,
    rtmr3: tcb.rtmr3,
    event_log: tcb.event_log,
    app_compose: tcb.app_compose,
    expected: { compose_hash: expected.compose_hash ?? ownHash, app_id: expected.app_id, instance_id: expected.instance_id },
  });
  const all = [...checks, ...r.checks];
  return { ...r, ok: all.every((c) => c.ok), checks: all, simulated, hardware_verified: false };
}
