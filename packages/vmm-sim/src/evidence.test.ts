/** The simulated guest's attestation evidence, as its guest agent's `Info` reports it through `/guest/Info`. */
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { after, before, test } from 'node:test';
import { RATLS_OID, certificateExtension, checkEventLogBinding, parseTdxQuote, replayRtmr3 } from '@opencvm/core';
import { SIMULATED_ORGANIZATION } from './evidence.ts';
import { appCompose, booted, call, startFakeKms, startTestSim, vmConfig, waitVm, type FakeKms } from './testkit.ts';
import type { VmmSim } from './types.ts';

let kms: FakeKms;
let sim: VmmSim;

before(async () => {
  kms = await startFakeKms();
  sim = await startTestSim(kms);
});
after(async () => {
  await sim.close();
  await kms.close();
});

const certsOf = (chain: string) => (chain.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? []).map((p) => new X509Certificate(p));

test('Info: a marked simulated quote in an RA-TLS app certificate, bound to the boot event log', async () => {
  const compose = appCompose({ public_tcbinfo: true });
  const { id } = await call(sim.url, 'CreateVm', vmConfig({ name: 'att-1', compose_file: compose }));
  const vm = await waitVm(sim, id, booted, 'booted');
  const info = await call(sim.url, 'Info', { id }, 'guest');
  const tcb = JSON.parse(info.tcb_info);

  // the chain: the app certificate signed by the CA that follows it; both say they are simulated
  const [leaf, ca] = certsOf(info.app_cert);
  assert.ok(leaf && ca, 'two certificates');
  assert.equal(leaf.verify(ca.publicKey), true);
  assert.equal(leaf.checkIssued(ca), true);
  assert.match(leaf.subject, new RegExp(`O=${SIMULATED_ORGANIZATION.replace(/[()]/g, '\\$&')}`));
  assert.match(leaf.subject, /CN=hello \(simulated\)/);
  assert.equal(ca.ca, true);

  // the quote in dstack's RA-TLS extension: TDX v4 layout, the marker, RTMR3 = replay of the log
  const quote = Buffer.from(certificateExtension(leaf.raw, RATLS_OID.quote)!);
  const q = parseTdxQuote(quote);
  assert.equal(q.simulated, true);
  assert.equal(q.rtmr3, tcb.rtmr3);
  assert.equal(q.mrtd, tcb.mrtd);
  assert.equal(replayRtmr3(tcb.event_log), q.rtmr3);
  // report data binds the certificate's key, as dstack's RA-TLS does
  const spki = leaf.publicKey.export({ type: 'spki', format: 'der' });
  assert.equal(q.report_data, createHash('sha512').update(Buffer.concat([Buffer.from('ratls-cert:'), spki])).digest('hex'));
  assert.deepEqual(Buffer.from(certificateExtension(leaf.raw, RATLS_OID.appId)!).toString('hex'), vm.appId);

  // the events name this VM's app id, compose hash and instance id, in dstack's order
  assert.deepEqual(
    tcb.event_log.map((e: { event: string }) => e.event),
    ['system-preparing', 'app-id', 'compose-hash', 'instance-id', 'boot-mr-done', 'os-image-hash', 'key-provider', 'storage-fs', 'system-ready'],
  );
  assert.equal(tcb.app_compose, compose);
  const r = checkEventLogBinding({
    quote,
    event_log: tcb.event_log,
    app_compose: tcb.app_compose,
    expected: { compose_hash: createHash('sha256').update(compose).digest('hex'), app_id: vm.appId, instance_id: vm.instanceId },
  });
  assert.equal(r.ok, true, JSON.stringify(r.checks));

  // the same evidence on the next read of this boot
  assert.equal((await call(sim.url, 'Info', { id }, 'guest')).app_cert, info.app_cert);
});

test('Info: without public_tcbinfo no event log is shown, the app certificate still is', async () => {
  const { id } = await call(sim.url, 'CreateVm', vmConfig({ name: 'att-2', compose_file: appCompose({ public_tcbinfo: false }) }));
  await waitVm(sim, id, booted, 'booted');
  const info = await call(sim.url, 'Info', { id }, 'guest');
  assert.equal(info.tcb_info, '');
  assert.equal(certsOf(info.app_cert).length, 2);
});
