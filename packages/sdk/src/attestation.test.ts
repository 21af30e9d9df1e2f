/**
 * `verifyCvmAttestation` on what the official `@phala/cloud` SDK's `getCvmAttestation` returns for a CVM on the
 * simulated host: the replay passes on its evidence and fails on tampered copies. Also our own client's
 * `getCvmAttestation` / `getAppAttestation`.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createClient as createPhalaClient } from '@phala/cloud';
import { eventDigestV1 } from '@opencvm/core';
import { startTestEnv, type TestEnv } from '@opencvm/server/testing';
import { createClient, getAppAttestation, getCvmAttestation, verifyCvmAttestation } from './index.ts';

let env: TestEnv;
let vmUuid: string;
let expected: { compose_hash: string; app_id: string; instance_id: string };
before(async () => {
  env = await startTestEnv();
  const c = createPhalaClient({ apiKey: env.apiKey, baseURL: env.apiUrl });
  const p = await c.provisionCvm({ name: 'sdk-att', compose_file: { docker_compose_file: 'services:\n  a:\n    image: busybox\n' } });
  const vm = await c.commitCvmProvision({ app_id: p.app_id!, compose_hash: p.compose_hash });
  vmUuid = vm.vm_uuid!;
  const deadline = Date.now() + 30_000;
  for (;;) {
    const info = await c.getCvmInfo({ id: vmUuid });
    if (info.status === 'running' && !info.progress && info.instance_id) {
      // what the user knows without asking the attestation endpoint: provision's compose hash and app id
      expected = { compose_hash: p.compose_hash, app_id: p.app_id!, instance_id: info.instance_id };
      break;
    }
    if (Date.now() > deadline) throw new Error(`CVM did not start: ${info.status}`);
    await new Promise((r) => setTimeout(r, 100));
  }
});
after(async () => {
  await env?.close();
});

const phala = () => createPhalaClient({ apiKey: env.apiKey, baseURL: env.apiUrl });

test('the official SDK\'s answer passes the replay with the expected compose hash, app id and instance id', async () => {
  const a = await phala().getCvmAttestation({ id: vmUuid });
  const r = verifyCvmAttestation(a, expected);
  assert.equal(r.ok, true, JSON.stringify(r.checks));
  assert.deepEqual(r.checks.map((c) => c.check), ['event_digests', 'rtmr3', 'compose_hash', 'app_id', 'instance_id', 'app_compose']);
  assert.equal(r.rtmr3_source, 'quote');
  assert.equal(r.simulated, true);
  assert.equal(r.hardware_verified, false);
  // the app-compose instead of its hash
  assert.equal(verifyCvmAttestation(a, { app_compose: a.tcb_info!.app_compose, app_id: expected.app_id }).ok, true);
});

test('tampered copies fail: a flipped compose-hash payload; a log re-hashed for another compose', async () => {
  const a = await phala().getCvmAttestation({ id: vmUuid });
  const flipped = structuredClone(a);
  const ev = flipped.tcb_info!.event_log.find((e) => e.event === 'compose-hash')!;
  ev.event_payload = (ev.event_payload[0] === 'f' ? '0' : 'f') + ev.event_payload.slice(1);
  const r1 = verifyCvmAttestation(flipped, expected);
  assert.equal(r1.ok, false);
  assert.deepEqual(r1.checks.filter((c) => !c.ok).map((c) => c.check), ['event_digests', 'compose_hash']);

  const other = a.tcb_info!.app_compose.replace('busybox', 'attacker/busybox');
  const otherHash = createHash('sha256').update(other).digest('hex');
  const forged = structuredClone(a);
  forged.tcb_info!.app_compose = other;
  for (const e of forged.tcb_info!.event_log) {
    if (e.event === 'compose-hash') e.event_payload = otherHash;
    e.digest = eventDigestV1(e.event, e.event_payload);
  }
  // whoever forged it can make the log self-consistent, but not the quote's RTMR3
  const r2 = verifyCvmAttestation(forged, { ...expected, compose_hash: otherHash });
  assert.deepEqual(r2.checks.filter((c) => !c.ok).map((c) => c.check), ['rtmr3']);
  // against what the user deployed it fails on the hash as well
  const r3 = verifyCvmAttestation(forged, expected);
  assert.deepEqual(r3.checks.filter((c) => !c.ok).map((c) => c.check), ['rtmr3', 'compose_hash', 'app_compose']);
  // an app-compose given that does not hash to the compose hash given
  assert.equal(verifyCvmAttestation(a, { ...expected, app_compose: other }).checks[0].check, 'expected');
});

test('our client: getCvmAttestation and getAppAttestation carry the server\'s replay; no event log → not ok', async () => {
  const client = createClient({ baseURL: env.apiUrl, apiKey: env.apiKey });
  const a = await getCvmAttestation(client, { id: vmUuid });
  assert.equal(a.simulated, true);
  assert.equal(a.event_log_verification?.ok, true);
  assert.equal(verifyCvmAttestation(a, expected).ok, true);
  const app = await getAppAttestation(client, { appId: expected.app_id });
  assert.equal(app.instances[0].event_log_verification?.ok, true);
  const none = verifyCvmAttestation({ ...a, tcb_info: null }, expected);
  assert.equal(none.ok, false);
  assert.match(none.checks[0].reason, /no event log/);
});
