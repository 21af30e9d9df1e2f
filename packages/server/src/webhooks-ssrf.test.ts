/**
 * Without `OPENCVM_WEBHOOK_ALLOW_PRIVATE`, a webhook URL whose host is or resolves to a loopback, private,
 * link-local (cloud metadata), CGNAT or IPv4-mapped private address is refused at creation and update, and a
 * delivery to one (a webhook recorded before the rule, or a name that resolves elsewhere now) is refused
 * before any connection is made. The same URLs are taken with the opt-in (webhooks.test.ts runs with it).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestEnv, type TestEnv } from './testing/harness.ts';
import { startReceiver, type Receiver } from './testing/webhook-receiver.ts';
import { waitFor } from './testing/wait.ts';
import { insertEvent, insertWebhook } from './store/webhooks.ts';
import { nonPublicReason } from './services/webhook-url.ts';
import { seal } from './services/seal.ts';
import { sealKeyOf } from './services/kms.ts';
import { secretPurpose } from './worker/webhooks.ts';
import { apiCall } from './testing/api.ts';

let env: TestEnv;
let r: Receiver;

const api = (method: string, path: string, body?: unknown) => apiCall(env, method, path, body);

before(async () => {
  env = await startTestEnv({ config: { webhookAllowPrivate: false } });
  r = await startReceiver();
});
after(async () => {
  await r?.close();
  await env?.close();
});

test('non-public addresses are refused at creation, with the reason', async () => {
  const port = new URL(r.url).port;
  for (const host of ['127.0.0.1', '10.0.0.1', '172.16.5.4', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '[::1]', '[::ffff:127.0.0.1]', '[::ffff:a9fe:a9fe]', '[fd00::1]', '[fe80::1]', 'localhost']) {
    const res = await api('POST', '/workspace/webhooks', { url: `http://${host}:${port}/hook`, events: ['*'] });
    assert.equal(res.status, 400, host);
    assert.equal(res.body.detail.error_code, 'ERR-14-002', host);
    assert.match(res.body.detail.message, host === 'localhost' ? /its host localhost resolves to an address that is not public/ : /its host .* is not a public address|carries .* which is not a public address/, host);
    // a name's resolved address is not told
    if (host === 'localhost') assert.doesNotMatch(res.body.detail.message, /127\.0\.0\.1|::1/);
    assert.match(res.body.detail.message, /OPENCVM_WEBHOOK_ALLOW_PRIVATE=1/);
  }
  assert.equal((await api('GET', '/workspace/webhooks')).body.length, 0);
});

test('the address rule', () => {
  for (const a of ['127.0.0.1', '10.1.2.3', '172.31.255.255', '192.168.0.1', '169.254.169.254', '100.127.0.1', '224.0.0.1', '::1', '::', 'fc00::1', 'fe80::1', '::ffff:10.0.0.1', '64:ff9b::7f00:1',
    'fec0::1', '::ffff:0:7f00:1', '64:ff9b:1::a00:1', '2002:7f00:1::1', '2001:0:4136:e378::1', '192.88.99.1', 'fe80::1%eth0', 'fe80::1%1']) {
    assert.ok(nonPublicReason(a), a);
  }
  for (const a of ['8.8.8.8', '1.1.1.1', '172.32.0.1', '100.128.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8']) assert.equal(nonPublicReason(a), null, a);
});

test('a delivery to a private address is refused at delivery time: nothing is sent', async () => {
  const { workspaceId } = await env.server.services.auth.authenticate(env.apiKey);
  // recorded as if the rule had let it through (a name that resolved elsewhere when it was created)
  const id = 'wh_000000000000000000000001';
  await insertWebhook(env.server.db, {
    id, workspace_id: workspaceId, name: null, url: `${r.url}/late`, events: ['*'],
    secret_sealed: seal(Buffer.from(`whsec_${Buffer.alloc(32, 3).toString('base64')}`), sealKeyOf(env.dataDir, env.config.sealKey), secretPurpose(id)),
  });
  await insertEvent(env.server.db, { workspace_id: workspaceId, cvm_id: 1, type: 'cvm.created' });
  const d = await waitFor(async () => {
    const [x] = (await api('GET', `/workspace/webhooks/${id}/deliveries`)).body;
    return x?.attempts >= 1 && x.attempt_history.length >= 1 ? x : null;
  }, 15_000);
  assert.match(d.attempt_history[0].error_message, /the URL is refused: its host 127\.0\.0\.1 is not a public address/);
  assert.equal(d.status, 'pending');
  assert.equal(r.received.length, 0);
  // updating it to another private URL is refused too
  const upd = await api('PUT', `/workspace/webhooks/${id}`, { url: 'http://169.254.169.254/latest/meta-data/' });
  assert.equal(upd.status, 400);
  assert.equal(upd.body.detail.error_code, 'ERR-14-002');
});
