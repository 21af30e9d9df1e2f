/**
 * A JSON body is parsed once. A JSON string sent as `application/json` is a string: `""` is not "no body" and
 * `"{\"force\":true}"` is not the object it spells, so on an endpoint whose body is an object (or nothing) both
 * are a 422 — they used to be parsed a second time, and `""` restarted, replicated or re-read the CVM.
 * JSON sent as `text/plain` is still read as JSON, and an empty `application/json` body is still no body.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { assertEnvelope, fetchAnswer } from '../testing/envelope.ts';
import { deployRunning } from '../testing/deploy.ts';
import { startTestEnv, type TestEnv } from '../testing/harness.ts';

let env: TestEnv;
let vmUuid: string;
before(async () => {
  env = await startTestEnv();
  vmUuid = (await deployRunning(env, 'json-body-cvm', 'services:\n  web:\n    image: nginx:latest\n')).vm_uuid!;
});
after(() => env?.close());

const send = (method: string, path: string, body: string, contentType = 'application/json') =>
  fetchAnswer(`${env.apiUrl}${path}`, { method, headers: { 'X-API-Key': env.apiKey, 'Content-Type': contentType }, body });

async function operations(): Promise<string[]> {
  const a = await fetchAnswer(`${env.apiUrl}/cvms/${vmUuid}/operations?limit=100`, { headers: { 'X-API-Key': env.apiKey } });
  assert.equal(a.status, 200, a.body);
  return (JSON.parse(a.body) as { items: { kind: string; correlation_id: string }[] }).items.map((o) => `${o.kind} ${o.correlation_id}`);
}

test('a JSON string is not parsed again: "" and "{...}" are a 422 on object bodies, and nothing happens to the CVM', async () => {
  const before = await operations();
  const cases: [string, string, string][] = [
    ['POST', `/cvms/${vmUuid}/restart`, '""'],
    ['POST', `/cvms/${vmUuid}/restart`, '"   "'],
    ['POST', `/cvms/${vmUuid}/restart`, JSON.stringify('{"force":true}')],
    ['POST', `/cvms/${vmUuid}/replicas`, '""'],
    ['PATCH', `/cvms/${vmUuid}/instance-id`, '""'],
    ['PATCH', `/cvms/${vmUuid}`, JSON.stringify('{"listed":true}')],
    ['PATCH', `/cvms/${vmUuid}/visibility`, JSON.stringify('{"listed":true}')],
    ['POST', '/status/batch', JSON.stringify(JSON.stringify({ vm_uuids: [vmUuid] }))],
  ];
  const wrong: string[] = [];
  for (const [method, path, body] of cases) {
    const a = await send(method, path, body);
    if (a.status !== 422) wrong.push(`${method} ${path} ${body}: answered ${a.status} ${a.body.slice(0, 120)}`);
    else assertEnvelope(a, 422, 'ERR-02-008', `${method} ${path} ${body}`);
  }
  assert.deepEqual(wrong, []);
  assert.deepEqual(await operations(), before, 'no operation was queued');
  const info = await fetchAnswer(`${env.apiUrl}/cvms/${vmUuid}`, { headers: { 'X-API-Key': env.apiKey } });
  assert.equal((JSON.parse(info.body) as { status: string }).status, 'running');
});

test('JSON as text/plain is still JSON, and an empty application/json body is still no body', async () => {
  // parsed and valid, then the CVM is looked up (and is not there)
  assertEnvelope(await send('PATCH', '/cvms/no-such-cvm/visibility', '{"listed":true}', 'text/plain'), 404, 'ERR-03-001');
  assertEnvelope(await send('POST', '/cvms/no-such-cvm/restart', '', 'application/json'), 404, 'ERR-03-001');
  assertEnvelope(await send('POST', '/cvms/no-such-cvm/restart', '{"force":"yes"}', 'text/plain'), 422, 'ERR-02-008');
  assertEnvelope(await send('POST', '/cvms/no-such-cvm/restart', 'not json', 'text/plain'), 400, 'ERR-02-008');
  const batch = await send('POST', '/status/batch', JSON.stringify({ vm_uuids: [vmUuid] }), 'text/plain');
  assert.equal(batch.status, 200, batch.body);
  assert.deepEqual(Object.keys(JSON.parse(batch.body) as object), [vmUuid]);
});
