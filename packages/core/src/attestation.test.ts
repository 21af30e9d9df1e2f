import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createSign, generateKeyPairSync, X509Certificate } from 'node:crypto';
import {
  RATLS_OID,
  RUNTIME_EVENT_TYPE,
  buildSimulatedTdxQuote,
  certificateExtension,
  checkEventLogBinding,
  eventDigestV1,
  eventDigestV2,
  isSimulatedQuote,
  parseTdxQuote,
  replayRtmr3,
  type EventLogEntry,
} from './attestation.ts';
import { derBits, derExplicit, derOctets, derOid, derSeq, derSet, derTime, derUint, derUtf8 } from './der.ts';

// dstack's own test vectors (cc-eventlog, v1 and v2 digests and a replay)
test('v1 event digest: app-id with payload deadbeef', () => {
  assert.equal(
    eventDigestV1('app-id', 'deadbeef'),
    '67b4be4efed0893cfa2bb1d35dca209ad8348b4c97f980807bcde8b9a0f26398dd0923d6eccb5aa2096d98046da8740f',
  );
});

test('v2 event digest: compose-hash with payload abcd (JCS text)', () => {
  assert.equal(
    eventDigestV2('compose-hash', 'abcd'),
    '9dde1673f544faa94b921825209593ddde08d0baf9cd6990175dffaf3081f1bb10311d56de189491feb33842a050ad7b',
  );
});

const entry = (event: string, payload: string, digest = eventDigestV1(event, payload)): EventLogEntry => ({
  imr: 3,
  event_type: RUNTIME_EVENT_TYPE,
  digest,
  event,
  event_payload: payload,
});

test('replay of system-preparing, app-id 00×20, compose-hash 00×32 (v1)', () => {
  const log = [entry('system-preparing', ''), entry('app-id', '00'.repeat(20)), entry('compose-hash', '00'.repeat(32))];
  assert.equal(
    replayRtmr3(log),
    '411ab50f2d3d70761f6709da6c26db78a233b085f6811e66f4baf13e7ab4201daf72c6e32d7ecc2ab328f26aebbe250e',
  );
  // events of other IMRs do not move RTMR3
  assert.equal(replayRtmr3([{ imr: 1, digest: 'ff'.repeat(48) }, ...log]), replayRtmr3(log));
});

const appCompose = '{"docker_compose_file":"services: {}\\n","manifest_version":2,"name":"x"}';
const composeHash = createHash('sha256').update(appCompose).digest('hex');
const appId = 'ab'.repeat(20);
const instanceId = 'cd'.repeat(20);

function bootLog(hash = composeHash): EventLogEntry[] {
  return [
    entry('system-preparing', ''),
    entry('app-id', appId),
    entry('compose-hash', hash),
    entry('instance-id', instanceId),
    entry('boot-mr-done', ''),
    entry('key-provider', Buffer.from('{"name":"kms","id":""}').toString('hex')),
    entry('storage-fs', Buffer.from('zfs').toString('hex')),
    entry('system-ready', ''),
  ];
}

function quoteFor(log: EventLogEntry[]): Buffer {
  const z = '00'.repeat(48);
  return buildSimulatedTdxQuote({ mrtd: '11'.repeat(48), rtmr0: z, rtmr1: z, rtmr2: '22'.repeat(48), rtmr3: replayRtmr3(log), report_data: '33'.repeat(64) });
}

const expected = { compose_hash: composeHash, app_id: appId, instance_id: instanceId };

test('a simulated quote has the TDX v4 layout, the marker, and reads back its measurements', () => {
  const log = bootLog();
  const q = parseTdxQuote(quoteFor(log).toString('hex'));
  assert.equal(q.version, 4);
  assert.equal(q.tee_type, 0x81);
  assert.equal(q.mrtd, '11'.repeat(48));
  assert.equal(q.rtmr2, '22'.repeat(48));
  assert.equal(q.rtmr3, replayRtmr3(log));
  assert.equal(q.report_data, '33'.repeat(64));
  assert.equal(q.mrconfigid, '00'.repeat(48));
  assert.equal(q.simulated, true);
  assert.equal(Buffer.from(q.qe_vendor_id, 'hex').toString('ascii'), 'SIMULATED-QUOTE!');
  // a quote without the marker (Intel's QE vendor id) is not reported as simulated
  const real = quoteFor(log);
  Buffer.from('939a7233f79c4ca9940a0db3957f0607', 'hex').copy(real, 12);
  assert.equal(isSimulatedQuote(real), false);
  assert.equal(parseTdxQuote(real).simulated, false);
});

test('parseTdxQuote refuses what is not a TDX v4 quote', () => {
  assert.throws(() => parseTdxQuote('00'.repeat(100)), /not a TDX quote: 100 bytes/);
  const q = quoteFor(bootLog());
  q.writeUInt16LE(3, 0);
  assert.throws(() => parseTdxQuote(q), /version 3/);
  const sgx = quoteFor(bootLog());
  sgx.writeUInt32LE(0, 4);
  assert.throws(() => parseTdxQuote(sgx), /TEE type 0x0/);
});

test('binding: an untouched log passes every check', () => {
  const log = bootLog();
  const r = checkEventLogBinding({ quote: quoteFor(log), event_log: log, app_compose: appCompose, expected });
  assert.equal(r.ok, true, JSON.stringify(r.checks));
  assert.deepEqual(r.checks.map((c) => c.check), ['event_digests', 'rtmr3', 'compose_hash', 'app_id', 'instance_id', 'app_compose']);
  assert.equal(r.rtmr3_source, 'quote');
  assert.equal(r.replayed_rtmr3, r.rtmr3);
});

test('binding: a compose-hash payload flipped in the log fails its digest and the expected hash', () => {
  const log = bootLog();
  const quote = quoteFor(log);
  const tampered = log.map((e) => (e.event === 'compose-hash' ? { ...e, event_payload: 'ff' + e.event_payload.slice(2) } : e));
  const r = checkEventLogBinding({ quote, event_log: tampered, app_compose: appCompose, expected });
  assert.equal(r.ok, false);
  const by = Object.fromEntries(r.checks.map((c) => [c.check, c]));
  assert.equal(by.event_digests.ok, false);
  assert.match(by.event_digests.reason, /"compose-hash"/);
  assert.equal(by.compose_hash.ok, false);
  assert.equal(by.rtmr3.ok, true); // the digests were left as they were: the replay still matches
});

test('binding: a log whose digests were recomputed for another compose replays to another RTMR3', () => {
  const log = bootLog();
  const quote = quoteFor(log);
  const otherCompose = appCompose.replace('"x"', '"evil"');
  const otherHash = createHash('sha256').update(otherCompose).digest('hex');
  const forged = bootLog(otherHash);
  const r = checkEventLogBinding({ quote, event_log: forged, app_compose: otherCompose, expected: { ...expected, compose_hash: otherHash } });
  assert.equal(r.ok, false);
  const by = Object.fromEntries(r.checks.map((c) => [c.check, c]));
  assert.equal(by.event_digests.ok, true);
  assert.equal(by.compose_hash.ok, true);
  assert.equal(by.app_compose.ok, true);
  assert.equal(by.rtmr3.ok, false);
  assert.match(by.rtmr3.reason, /replays to [0-9a-f]{96}, the quote's RTMR3 is [0-9a-f]{96}/);
});

test('binding: another CVM\'s app id or instance id, a changed app-compose, a duplicated event', () => {
  const log = bootLog();
  const quote = quoteFor(log);
  const r1 = checkEventLogBinding({ quote, event_log: log, expected: { ...expected, app_id: 'ee'.repeat(20), instance_id: '' } });
  assert.deepEqual(r1.checks.filter((c) => !c.ok).map((c) => c.check), ['app_id', 'instance_id']);
  const r2 = checkEventLogBinding({ quote, event_log: log, app_compose: appCompose + ' ', expected: {} });
  assert.deepEqual(r2.checks.filter((c) => !c.ok).map((c) => c.check), ['app_compose']);
  const dup = [...log, entry('compose-hash', '00'.repeat(32))];
  const r3 = checkEventLogBinding({ rtmr3: replayRtmr3(dup), event_log: dup, expected: { compose_hash: composeHash } });
  assert.equal(r3.rtmr3_source, 'tcb_info');
  assert.deepEqual(r3.checks.filter((c) => !c.ok).map((c) => c.reason), ['the event log has 2 "compose-hash" events, dstack logs exactly one']);
  const r4 = checkEventLogBinding({ event_log: log, expected: {} });
  assert.equal(r4.ok, false);
  assert.match(r4.checks.find((c) => c.check === 'rtmr3')!.reason, /no quote and no RTMR3/);
});

test('v2 digests are accepted too', () => {
  const log = bootLog().map((e) => ({ ...e, digest: eventDigestV2(e.event, e.event_payload) }));
  const r = checkEventLogBinding({ quote: quoteFor(log), event_log: log, app_compose: appCompose, expected });
  assert.equal(r.ok, true, JSON.stringify(r.checks));
});

test('the quote extension is found in an X.509 certificate built with the DER writer, and node parses the certificate', () => {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const quote = quoteFor(bootLog());
  const name = derSeq(derSet(derSeq(derOid('2.5.4.3'), derUtf8('test'))));
  const alg = derSeq(derOid('1.2.840.10045.4.3.2'));
  const tbs = derSeq(
    derExplicit(0, derUint(Buffer.from([2]))),
    derUint(Buffer.from([1, 2, 3])),
    alg,
    name,
    derSeq(derTime(new Date('2026-01-01T00:00:00Z')), derTime(new Date('2036-01-01T00:00:00Z'))),
    name,
    Buffer.from(publicKey.export({ type: 'spki', format: 'der' })),
    derExplicit(3, derSeq(derSeq(derOid(RATLS_OID.quote), derOctets(derOctets(quote))))),
  );
  const sig = createSign('sha256').update(tbs).sign(privateKey);
  const cert = derSeq(tbs, alg, derBits(sig));
  const x = new X509Certificate(Buffer.from(cert));
  assert.equal(x.subject, 'CN=test');
  assert.equal(x.verify(publicKey), true);
  assert.deepEqual(Buffer.from(certificateExtension(cert, RATLS_OID.quote)!), quote);
  assert.equal(certificateExtension(cert, RATLS_OID.appId), null);
});
