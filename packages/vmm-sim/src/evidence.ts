/**
 * The simulated guest's attestation evidence, with the structure of dstack's and plainly marked as simulated.
 *
 * A dstack guest agent reports an RA-TLS app certificate (`ra-tls/src/cert.rs`): an X.509 certificate whose
 * extension 1.3.6.1.4.1.62397.1.1 carries the TDX quote, whose report data binds the certificate's public key
 * (SHA-512 of `ratls-cert:` ‖ the key), and whose issuer is the app's CA. Here:
 * - the quote has the TDX v4 layout (core's `buildSimulatedTdxQuote`): MRTD/RTMR0–2 are stand-ins derived from
 *   the OS image hash, RTMR3 is the replay of this boot's runtime events, the header spells `SIMULATED-QUOTE!`
 *   and the signature is text, not an ECDSA signature: DCAP verification refuses it;
 * - the chain is [app certificate, a CA generated for the boot], both P-256, organization
 *   `opencvm simulated TEE (not hardware attested)`. Built with core's DER writer and node:crypto.
 */
import { createHash, createSign, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import {
  RATLS_OID,
  buildSimulatedTdxQuote,
  derBits,
  derBool,
  derExplicit,
  derOctets,
  derOid,
  derSeq,
  derSet,
  derTime,
  derUint,
  derUtf8,
  replayDigests,
  eventDigestV1,
} from '@opencvm/core';

export const SIMULATED_ORGANIZATION = 'opencvm simulated TEE (not hardware attested)';

export interface Measured {
  name: string;
  payload: string;
}

export interface StaticMeasurements {
  mrtd: string;
  rtmr0: string;
  rtmr1: string;
  rtmr2: string;
}

export interface Evidence {
  /** PEM chain: the app certificate first, then its CA */
  appCert: string;
  /** hex */
  quote: string;
  rtmr3: string;
}

/** The RTMR3 the runtime events give (event log version 1 digests, as dstack 0.5 logs them). */
export function rtmr3Of(events: Measured[]): string {
  return replayDigests(events.map((e) => eventDigestV1(e.name, e.payload)));
}

const ECDSA_SHA256 = derSeq(derOid('1.2.840.10045.4.3.2'));

function name(cn: string): Uint8Array {
  const rdn = (oid: string, v: string) => derSet(derSeq(derOid(oid), derUtf8(v)));
  return derSeq(rdn('2.5.4.6', 'ZZ'), rdn('2.5.4.10', SIMULATED_ORGANIZATION), rdn('2.5.4.3', cn));
}

const spki = (k: KeyObject) => k.export({ type: 'spki', format: 'der' });
const ext = (oid: string, critical: boolean, value: Uint8Array) => derSeq(derOid(oid), ...(critical ? [derBool(true)] : []), derOctets(value));

function certificate(opts: {
  subject: string;
  issuer: string;
  publicKey: KeyObject;
  signer: KeyObject;
  ca: boolean;
  extensions: Uint8Array[];
  notBefore: Date;
}): Buffer {
  const notAfter = new Date(opts.notBefore.getTime() + 365 * 24 * 3600 * 1000);
  const serial = randomBytes(16);
  serial[0] &= 0x7f;
  serial[0] |= 0x01;
  const tbs = derSeq(
    derExplicit(0, derUint(Buffer.from([2]))),
    derUint(serial),
    ECDSA_SHA256,
    name(opts.issuer),
    derSeq(derTime(opts.notBefore), derTime(notAfter)),
    name(opts.subject),
    spki(opts.publicKey),
    derExplicit(
      3,
      derSeq(
        ext('2.5.29.19', true, opts.ca ? derSeq(derBool(true)) : derSeq()),
        ext('2.5.29.15', true, derBits(Buffer.from([opts.ca ? 0x06 : 0x80]))),
        ...opts.extensions,
      ),
    ),
  );
  const signature = createSign('sha256').update(tbs).sign(opts.signer);
  return Buffer.from(derSeq(tbs, ECDSA_SHA256, derBits(signature)));
}

const pem = (der: Buffer) => `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`;

/** The app certificate chain and quote of one boot. */
export function makeEvidence(o: { appId: string; appName: string; events: Measured[]; measurements: StaticMeasurements }): Evidence {
  const ca = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const app = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const rtmr3 = rtmr3Of(o.events);
  // dstack's RA-TLS report data: SHA-512("ratls-cert:" ‖ the certificate's public key)
  const reportData = createHash('sha512').update(Buffer.concat([Buffer.from('ratls-cert:'), spki(app.publicKey)])).digest('hex');
  const quote = buildSimulatedTdxQuote({ ...o.measurements, rtmr3, report_data: reportData });
  const notBefore = new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000);
  const caCert = certificate({
    subject: 'opencvm simulated app CA',
    issuer: 'opencvm simulated app CA',
    publicKey: ca.publicKey,
    signer: ca.privateKey,
    ca: true,
    extensions: [],
    notBefore,
  });
  const appCert = certificate({
    subject: `${o.appName || o.appId} (simulated)`,
    issuer: 'opencvm simulated app CA',
    publicKey: app.publicKey,
    signer: ca.privateKey,
    ca: false,
    extensions: [
      // as dstack's RA-TLS: the extension value is a DER OCTET STRING of the bytes
      ext(RATLS_OID.quote, false, derOctets(quote)),
      ext(RATLS_OID.appId, false, derOctets(Buffer.from(o.appId, 'hex'))),
    ],
    notBefore,
  });
  return { appCert: pem(appCert) + pem(caCert), quote: quote.toString('hex'), rtmr3 };
}
