/**
 * Attestation of a deployed CVM through the official clients: `@phala/cloud`'s `getCvmAttestation` and
 * `getAppAttestation`, the CLI's `phala cvms attestation`, and the replay of the simulated guest's event log
 * (core's `checkEventLogBinding`, which the server runs: passing on its evidence, failing on tampered copies).
 * Our SDK's `verifyCvmAttestation` has its own test (packages/sdk/src/attestation.test.ts).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { getAppAttestation } from '@phala/cloud';
import { checkEventLogBinding, eventDigestV1, parseTdxQuote } from '@opencvm/core';
import { makeCli } from './testing/cli.ts';
import { deployRunning, sdkClient, settle } from './testing/deploy.ts';
import { startTestEnv, type TestEnv } from './testing/harness.ts';

const compose = 'services:\n  web:\n    image: nginx:latest\n    ports:\n      - "80:80"\n';

let env: TestEnv;
let vm: Awaited<ReturnType<typeof deployRunning>>;
before(async () => {
  env = await startTestEnv();
  vm = await deployRunning(env, 'att-e2e', compose);
});
after(async () => {
  await env?.close();
});

test('getCvmAttestation: the simulated guest\'s evidence, in every id form, replayed by the server and by our SDK', async () => {
  const c = sdkClient(env);
  const info = await c.getCvmInfo({ id: vm.vm_uuid! });
  const appId = info.app_id!;
  for (const id of [vm.vm_uuid!, vm.vm_uuid!.replace(/-/g, ''), `app_${appId}`, 'att-e2e', String(vm.id), info.instance_id!]) {
    const a = await c.getCvmAttestation({ id });
    assert.equal(a.is_online, true, id);
    assert.equal(a.error, null);
    assert.equal(a.name, 'att-e2e');
  }
  // the raw answer carries opencvm's keys beside Phala's
  const res = await fetch(`${env.apiUrl}/cvms/${vm.vm_uuid}/attestation`, { headers: { 'X-API-Key': env.apiKey } });
  assert.equal(res.status, 200);
  const raw = await res.json();
  assert.equal(raw.simulated, true);
  assert.equal(raw.event_log_verification.ok, true, JSON.stringify(raw.event_log_verification.checks));
  assert.equal(raw.event_log_verification.hardware_verified, false);
  assert.equal(raw.event_log_verification.rtmr3_source, 'quote');
  assert.deepEqual(raw.event_log_verification.expected, { compose_hash: info.compose_hash, app_id: appId, instance_id: info.instance_id });

  const a = await c.getCvmAttestation({ id: vm.vm_uuid! });
  const [leaf, ca] = a.app_certificates!;
  assert.equal(a.app_certificates!.length, 2);
  assert.match(leaf.subject.organization!, /simulated/);
  assert.equal(leaf.position_in_chain, 0);
  assert.equal(ca.is_ca, true);
  assert.equal(leaf.app_id, appId);
  const quote = parseTdxQuote(leaf.quote!);
  assert.equal(quote.simulated, true);
  assert.equal(quote.rtmr3, a.tcb_info!.rtmr3);
  assert.equal(createHash('sha256').update(a.tcb_info!.app_compose).digest('hex'), info.compose_hash);
  assert.equal(a.compose_file, a.tcb_info!.app_compose);

  // the replay of core (the server's), on the official SDK's answer; then on tampered copies
  const expected = { compose_hash: info.compose_hash!, app_id: appId, instance_id: info.instance_id! };
  const check = (x: typeof a, exp = expected) =>
    checkEventLogBinding({ quote: x.app_certificates![0].quote, event_log: x.tcb_info!.event_log, app_compose: x.tcb_info!.app_compose, expected: exp });
  const ok = check(a);
  assert.equal(ok.ok, true, JSON.stringify(ok.checks));

  // tampered: the compose-hash event's payload flipped
  const flipped = structuredClone(a);
  const ev = flipped.tcb_info!.event_log.find((e) => e.event === 'compose-hash')!;
  ev.event_payload = (ev.event_payload[0] === '0' ? '1' : '0') + ev.event_payload.slice(1);
  const bad1 = check(flipped);
  assert.equal(bad1.ok, false);
  assert.deepEqual(bad1.checks.filter((x) => !x.ok).map((x) => x.check), ['event_digests', 'compose_hash']);

  // tampered: a log for another compose whose digests were recomputed: consistent, but not the quote's RTMR3
  const otherCompose = a.tcb_info!.app_compose.replace('nginx:latest', 'evil:latest');
  const otherHash = createHash('sha256').update(otherCompose).digest('hex');
  const forged = structuredClone(a);
  forged.tcb_info!.app_compose = otherCompose;
  for (const e of forged.tcb_info!.event_log) {
    if (e.event === 'compose-hash') e.event_payload = otherHash;
    e.digest = eventDigestV1(e.event, e.event_payload);
  }
  const bad2 = check(forged, { ...expected, compose_hash: otherHash });
  assert.equal(bad2.ok, false);
  assert.deepEqual(bad2.checks.filter((x) => !x.ok).map((x) => x.check), ['rtmr3']);
});

test('getAppAttestation: one instance per live CVM, kms_info.chain_id a string or null', async () => {
  const c = sdkClient(env);
  const info = await c.getCvmInfo({ id: vm.vm_uuid! });
  const a = await getAppAttestation(c, { appId: info.app_id! });
  assert.equal(a.app_id, info.app_id);
  assert.equal(a.kms_info.kms_type, 'phala');
  assert.equal(a.kms_info.chain_id, null);
  assert.equal(a.kms_guest_agent_info, null);
  assert.equal(a.instances.length, 1);
  const i = a.instances[0];
  assert.equal(i.vm_uuid, vm.vm_uuid);
  assert.equal(i.instance_id, info.instance_id);
  assert.equal(i.error, null);
  assert.equal(parseTdxQuote(i.quote!).rtmr3, i.tcb_info!.rtmr3);
  assert.equal((i as Record<string, unknown>).event_log_verification, undefined); // the official SDK keeps Phala's keys only
  // app_ prefix accepted
  assert.equal((await getAppAttestation(c, { appId: `app_${info.app_id}` })).instances.length, 1);
});

test('phala cvms attestation exits 0 and prints the evidence', async () => {
  const cli = makeCli(env.apiUrl, env.apiKey);
  const r = await cli.run(['cvms', 'attestation', vm.vm_uuid!]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout + r.stderr, /Online/);
  assert.match(r.stdout + r.stderr, /compose-hash/);
  const j = await cli.run(['cvms', 'attestation', vm.vm_uuid!, '--json']);
  assert.equal(j.code, 0, j.stdout + j.stderr);
  const out = JSON.parse(j.stdout.slice(j.stdout.indexOf('{')));
  assert.equal(out.is_online, true);
  assert.equal(out.tcb_info.event_log.length, 9);
});

test('a guest that does not answer, and a stopped CVM: is_online false with the reason, no 5xx', async () => {
  const c = sdkClient(env);
  env.sim.injectFault({ method: 'guest.Info', error: 'guest agent is restarting', times: 1 });
  const down = await c.getCvmAttestation({ id: vm.vm_uuid! });
  assert.equal(down.is_online, false);
  assert.match(down.error!, /guest agent did not answer: Info: guest agent is restarting/);
  assert.equal(down.tcb_info, null);
  assert.equal(down.app_certificates, null);

  await c.stopCvm({ id: vm.vm_uuid! });
  await settle(env, vm.vm_uuid!, 'stopped');
  const stopped = await c.getCvmAttestation({ id: vm.vm_uuid! });
  assert.equal(stopped.is_online, false);
  assert.match(stopped.error!, /the CVM is stopped/);
  const app = await getAppAttestation(c, { appId: (await c.getCvmInfo({ id: vm.vm_uuid! })).app_id! });
  assert.match(app.instances[0].error!, /the CVM is stopped/);
});

test('another workspace\'s id, or an unknown one: 404', async () => {
  const res = await fetch(`${env.apiUrl}/cvms/app_${'0'.repeat(40)}/attestation`, { headers: { 'X-API-Key': env.apiKey } });
  assert.equal(res.status, 404);
  const app = await fetch(`${env.apiUrl}/apps/${'0'.repeat(40)}/attestations`, { headers: { 'X-API-Key': env.apiKey } });
  assert.equal(app.status, 404);
});
