/**
 * Phala's quote verification API (`POST /attestations/verify`, `GET /attestations/recent|view|collateral|raw`,
 * `HEAD /attestations/raw`) over plain HTTP (the official SDK has no call for it), with two real TDX quotes and
 * Intel's collateral for them (`testdata/attestation/`): verified `UpToDate` at the collateral's time; refused
 * for the outdated platform, a flipped byte in the signed body and expired collateral, each with a reason;
 * stored collateral reused; bad input a 4xx in the envelope.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { startTestEnv, type TestEnv } from './testing/harness.ts';
import { assertEnvelope, fetchAnswer } from './testing/envelope.ts';

const data = (f: string) => readFileSync(new URL(`./testdata/attestation/${f}`, import.meta.url));
const QUOTE = data('tdx_quote');
const COLLATERAL = JSON.parse(data('tdx_quote_collateral.json').toString('utf8'));
const OUTDATED = data('tdx_quote_outdated');
const OUTDATED_COLLATERAL = JSON.parse(data('tdx_quote_outdated_collateral.json').toString('utf8'));
const issued = (c: { tcb_info: string }) => Date.parse(JSON.parse(c.tcb_info).issueDate) / 1000;
/** one hour after the TCB info was issued: the collateral is current */
const AT = issued(COLLATERAL) + 3600;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let env: TestEnv;
before(async () => {
  env = await startTestEnv();
});
after(async () => {
  await env?.close();
});

const post = (body: unknown) =>
  fetchAnswer(`${env.apiUrl}/attestations/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
const json = (a: { status: number; body: string }, status = 200) => {
  assert.equal(a.status, status, a.body.slice(0, 400));
  return JSON.parse(a.body);
};

test('the sample quote verifies UpToDate at its collateral time, with its parsed fields and checksum', async () => {
  const r = json(await post({ hex: QUOTE.toString('hex'), collateral: COLLATERAL, at: AT }));
  assert.equal(r.success, true);
  assert.equal(r.tcb_status, 'UpToDate');
  assert.deepEqual(r.advisory_ids, []);
  assert.equal(r.reason, null);
  assert.equal(r.checksum, sha256(QUOTE));
  assert.equal(r.id, r.checksum);
  assert.equal(r.proof_of_cloud, false);
  assert.equal(r.verified_at, new Date(AT * 1000).toISOString());
  assert.equal(r.quote.header.version, 4);
  assert.equal(r.quote.header.tee_type, 129);
  assert.equal(r.quote.verified, true);
  // the TD report's fields are the quote's bytes: MRTD at offset 48 + 136 of a v4 TDX quote, RTMR3 at 48 + 472
  assert.equal(r.quote.body.mrtd, QUOTE.subarray(184, 232).toString('hex'));
  assert.equal(r.quote.body.rtmr3, QUOTE.subarray(520, 568).toString('hex'));
  assert.equal(r.quote.body.reportdata, QUOTE.subarray(568, 632).toString('hex'));
  assert.match(r.quote.cert_data, /BEGIN CERTIFICATE/);
  assert.deepEqual(r.quote_collateral, COLLATERAL);
});

test('the same quote as an ISO time, a 0x prefix, and a multipart file upload', async () => {
  const iso = new Date(AT * 1000).toISOString();
  const r = json(await post({ hex: `0x${QUOTE.toString('hex')}`, collateral: COLLATERAL, at: iso }));
  assert.equal(r.tcb_status, 'UpToDate');
  const form = new FormData();
  form.append('file', new Blob([QUOTE]), 'quote.bin');
  form.append('collateral', JSON.stringify(COLLATERAL));
  form.append('at', String(AT));
  const m = json(await fetchAnswer(`${env.apiUrl}/attestations/verify`, { method: 'POST', body: form }));
  assert.equal(m.success, true);
  assert.equal(m.checksum, sha256(QUOTE));
  const hexForm = new FormData();
  hexForm.append('hex', QUOTE.toString('hex'));
  hexForm.append('at', iso);
  const h = json(await fetchAnswer(`${env.apiUrl}/attestations/verify`, { method: 'POST', body: hexForm }));
  assert.equal(h.tcb_status, 'UpToDate', 'the stored collateral is used when none is sent');
});

test('refused: the outdated platform, a flipped byte in the signed body, expired collateral — each with a reason', async () => {
  const outdated = json(await post({ hex: OUTDATED.toString('hex'), collateral: OUTDATED_COLLATERAL, at: issued(OUTDATED_COLLATERAL) + 3600 }));
  assert.equal(outdated.success, false);
  assert.equal(outdated.tcb_status, null);
  assert.match(outdated.reason, /No matching TCB level found/);
  assert.equal(outdated.quote.verified, false);

  const flipped = Buffer.from(QUOTE);
  flipped[300] ^= 0x01; // inside the TD report (bytes 48..632), which the attestation key signs
  const f = json(await post({ hex: flipped.toString('hex'), collateral: COLLATERAL, at: AT }));
  assert.equal(f.success, false);
  assert.match(f.reason, /signature/i);
  assert.notEqual(f.checksum, sha256(QUOTE));

  const nextUpdate = Date.parse(JSON.parse(COLLATERAL.tcb_info).nextUpdate) / 1000;
  const expired = json(await post({ hex: QUOTE.toString('hex'), collateral: COLLATERAL, at: nextUpdate + 86400 }));
  assert.equal(expired.success, false);
  assert.match(expired.reason, /expired/i);
  assert.match(expired.reason, /at/);
});

test('view, raw, HEAD, collateral and recent for a verified quote', async () => {
  const sum = sha256(QUOTE);
  json(await post({ hex: QUOTE.toString('hex'), collateral: COLLATERAL, at: AT }));
  const view = json(await fetchAnswer(`${env.apiUrl}/attestations/view/${sum}`));
  assert.equal(view.success, true);
  assert.equal(view.tcb_status, 'UpToDate');
  assert.equal(view.checksum, sum);

  const raw = await fetch(`${env.apiUrl}/attestations/raw/${sum.toUpperCase()}`);
  assert.equal(raw.status, 200);
  assert.equal(raw.headers.get('content-type'), 'application/octet-stream');
  assert.deepEqual(Buffer.from(await raw.arrayBuffer()), QUOTE);

  const head = await fetch(`${env.apiUrl}/attestations/raw/${sum}`, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get('content-length'), String(QUOTE.length));
  const headMissing = await fetch(`${env.apiUrl}/attestations/raw/${'0'.repeat(64)}`, { method: 'HEAD' });
  assert.equal(headMissing.status, 404);

  assert.deepEqual(json(await fetchAnswer(`${env.apiUrl}/attestations/collateral/${sum}`)), COLLATERAL);

  // the outdated quote verified after this one comes first
  json(await post({ hex: OUTDATED.toString('hex'), collateral: OUTDATED_COLLATERAL, at: issued(OUTDATED_COLLATERAL) + 3600 }));
  const recent = json(await fetchAnswer(`${env.apiUrl}/attestations/recent?limit=2`));
  assert.equal(recent.length, 2);
  assert.equal(recent[0].checksum, sha256(OUTDATED));
  assert.equal(recent[0].success, false);
  assert.equal(recent[1].checksum, sum);
  assert.equal(recent[1].tcb_status, 'UpToDate');
  const skipped = json(await fetchAnswer(`${env.apiUrl}/attestations/recent?skip=1&limit=1`));
  assert.deepEqual(skipped, [recent[1]]);
});

test('unknown checksums are 404 in the envelope', async () => {
  for (const path of ['view', 'collateral', 'raw']) {
    assertEnvelope(await fetchAnswer(`${env.apiUrl}/attestations/${path}/${'ab'.repeat(32)}`), 404, 'ERR-12-005', path);
    assertEnvelope(await fetchAnswer(`${env.apiUrl}/attestations/${path}/not-a-checksum`), 404, 'ERR-12-005', path);
  }
});

test('bad input is a 4xx in the envelope, never a 5xx', async () => {
  const hex = QUOTE.toString('hex');
  assertEnvelope(await post({ hex: 'zz12', collateral: COLLATERAL }), 400, 'ERR-12-001', 'not hex');
  assertEnvelope(await post({ hex: 'abc', collateral: COLLATERAL }), 400, 'ERR-12-001', 'odd digits');
  assertEnvelope(await post({ hex: '', collateral: COLLATERAL }), 400, 'ERR-12-001', 'empty');
  assertEnvelope(await post({}), 400, 'ERR-12-001', 'no quote');
  assertEnvelope(await post({ hex: '00'.repeat(700), collateral: COLLATERAL }), 400, 'ERR-12-001', 'not a quote');
  assertEnvelope(await post({ hex: '04'.repeat(64 * 1024 + 1), collateral: COLLATERAL }), 413, 'ERR-12-002', 'too large');
  assertEnvelope(await post({ hex, collateral: { ...COLLATERAL, tcb_info: 'not json' } }), 400, 'ERR-12-004', 'tcb_info not JSON');
  assertEnvelope(await post({ hex, collateral: '{nope' }), 400, 'ERR-12-004', 'collateral text not JSON');
  const missing = { ...COLLATERAL } as Record<string, unknown>;
  delete missing.qe_identity;
  const shape = assertEnvelope(await post({ hex, collateral: missing }), 422, 'ERR-02-008', 'collateral field missing');
  assert.match(shape.detail.message, /qe_identity/);
  assertEnvelope(await post({ hex, collateral: 42 }), 422, 'ERR-02-008', 'collateral a number');
  assertEnvelope(await post({ hex, collateral: COLLATERAL, at: 'yesterday-ish' }), 422, 'ERR-02-008', 'at not a time');
  assertEnvelope(await fetchAnswer(`${env.apiUrl}/attestations/recent?limit=500`), 422, 'ERR-02-008', 'limit');
  const form = await fetchAnswer(`${env.apiUrl}/attestations/verify`, {
    method: 'POST', headers: { 'content-type': 'multipart/form-data; boundary=x' }, body: 'garbage',
  });
  assertEnvelope(form, 400, 'ERR-02-008', 'broken form');
});

test('a quote never verified here and sent without collateral: 400 saying to send collateral', async () => {
  const fresh = Buffer.from(OUTDATED);
  fresh[400] ^= 0xff; // another checksum, still a quote that parses
  const env400 = assertEnvelope(await post({ hex: fresh.toString('hex') }), 400, 'ERR-12-003');
  assert.match(env400.detail.message, /collateral/);
});
