/**
 * A CVM's attestation evidence as its guest agent reports it (Phala Cloud's `GET /cvms/{id}/attestation` and
 * `GET /apps/{app_id}/attestations`; the official SDK's `getCvmAttestation`, `getAppAttestation` and the CLI's
 * `phala cvms attestation`). The server asks the guest agent (`Info`, through dstack-vmm's `/guest/Info`) at
 * each request, and replays the event log against the CVM's recorded compose hash, app id and instance id.
 * A CVM that is not running, or whose guest does not answer, is `is_online: false` with the reason in `error`.
 */
import { defineEndpoint } from '../endpoint.ts';
import { appAttestationSchema, cvmAttestationSchema } from '../shapes/cvm-attestation.ts';
import { appIdParams, cvmIdParams } from './params.ts';

export const getCvmAttestation = defineEndpoint({
  id: 'getCvmAttestation',
  method: 'GET',
  path: '/api/v1/cvms/{id}/attestation',
  summary: "The CVM's app certificates, TCB info and event log, with the replay of its RTMR3",
  description:
    "Read from the guest agent at each request. `app_certificates[0].quote` is the TDX quote of dstack's RA-TLS certificate; `tcb_info` (event log, app-compose) is shown when the app-compose sets `public_tcbinfo`. `event_log_verification` replays the event log and checks it gives the quote's RTMR3 and binds this CVM's compose hash, app id and instance id; it does not check the quote's signature (`hardware_verified: false`). `simulated: true`: the quote comes from a simulated host and is not hardware evidence.",
  tag: 'Attestations',
  auth: 'apiKey',
  resolve: 'cvm',
  params: cvmIdParams,
  success: { status: 200, description: 'The evidence', json: cvmAttestationSchema },
  phalaSchema: 'CvmAttestationSchema',
});

export const getAppAttestation = defineEndpoint({
  id: 'getAppAttestation',
  method: 'GET',
  path: '/api/v1/apps/{app_id}/attestations',
  summary: "The attestation evidence of each of the app's live CVMs",
  description:
    'One entry per live CVM of the app, each read from its guest agent as `GET /cvms/{id}/attestation` reads it; a CVM whose guest does not answer has `error` set. `kms_guest_agent_info` and `gateway_guest_agent_info` are null: the KMS is built into this server, not a CVM.',
  tag: 'Attestations',
  auth: 'apiKey',
  resolve: 'app',
  params: appIdParams,
  success: { status: 200, description: 'The evidence of each instance', json: appAttestationSchema },
  phalaSchema: 'AppAttestationResponseSchema',
});
