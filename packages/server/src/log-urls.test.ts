/**
 * Log URL tokens (services/log-urls.ts) are bearer secrets: they never reach the server log.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from '@phala/cloud';
import { deployRunning } from './testing/deploy.ts';
import { startTestEnv, testDatabaseKind, type TestEnv } from './testing/harness.ts';
import { waitFor } from './testing/wait.ts';

/** every line the server logged */
const logLines: string[] = [];

let env: TestEnv;
before(async () => {
  env = await startTestEnv({
    config: { reconcileMs: 100 },
    server: { logger: true, logStream: { write: (line) => logLines.push(line) } },
  });
});
after(async () => {
  await env?.close();
});

const client = () => createClient({ apiKey: env.apiKey, baseURL: env.apiUrl });
const legacy = () => createClient({ apiKey: env.apiKey, baseURL: env.apiUrl, version: '2025-10-28' } as any);

/** Deploy and wait until the composition lists its containers; answers the CVM and its log URL reads. */
async function deploy(name: string) {
  const vm = await deployRunning(env, name, 'services:\n  web:\n    image: nginx:latest\n');
  await waitFor(async () => ((await client().getCvmContainersStats({ id: vm.vm_uuid! })).is_online ? true : null), 15_000);
  return {
    vm,
    /** v2025 `GET /cvms/{id}` */
    syslog: async () => ((await legacy().getCvmInfo({ id: vm.vm_uuid! })) as any).syslog_endpoint as string,
    /** `GET /cvms/{id}/composition`, the web container's */
    container: async () => (await client().getCvmContainersStats({ id: vm.vm_uuid! })).containers!.find((k) => k.names.includes('/web'))!.log_endpoint!,
  };
}

const param = (url: string, name: string) => new URL(url).searchParams.get(name)!;
const withParam = (url: string, name: string, value: string | null) => {
  const u = new URL(url);
  if (value === null) u.searchParams.delete(name);
  else u.searchParams.set(name, value);
  return u.toString();
};

/** The JSON log lines logged since `from`. */
const loggedSince = (from: number) => logLines.slice(from).map((l) => JSON.parse(l) as Record<string, any>);

test(`no log line carries a log URL's token or an API key; the request is logged with token=[REDACTED] (${testDatabaseKind})`, async () => {
  const cvm = await deploy('logged-app');
  const syslog = await cvm.syslog();
  const container = await cvm.container();
  const tokens = [param(syslog, 'token'), param(container, 'token')];
  const from = logLines.length;

  const serial = await fetch(`${syslog}&ch=serial&tail=1&lines=1&ansi`);
  assert.equal(serial.status, 200);
  await serial.text();
  const web = await fetch(`${container}&text&bare`);
  assert.equal(web.status, 200);
  assert.equal(await web.text(), 'started nginx:latest\nready\n');
  // refused (a wrong token) and not found: still logged, still redacted
  const refused = await fetch(withParam(`${syslog}&ch=serial`, 'token', tokens[0].replace(/^./, (ch) => (ch === 'A' ? 'B' : 'A'))));
  assert.equal(refused.status, 403);
  const missing = await fetch(`${env.server.url}/logs/nothing-here?cvm=${cvm.vm.vm_uuid}&token=${tokens[0]}`);
  assert.equal(missing.status, 404);
  // an API call with the key in both headers the SDKs use
  const me = await fetch(`${env.apiUrl}/auth/me`, { headers: { 'x-api-key': env.apiKey, authorization: `Bearer ${env.apiKey}` } });
  assert.equal(me.status, 200);
  // a message or an error that quotes a log URL
  env.server.app.log.warn(`relaying ${syslog}&ch=serial`);
  env.server.app.log.error({ err: new Error(`the host failed on ${container}&follow`) }, 'relay failed');

  const lines = await waitFor(() => {
    const got = loggedSince(from);
    return got.filter((l) => l.msg === 'incoming request').length >= 5 && got.some((l) => l.msg === 'relay failed') ? got : null;
  });
  for (const line of logLines.slice(from)) {
    for (const t of tokens) assert.ok(!line.includes(t), `a log line has a log URL's token: ${line}`);
    assert.ok(!line.includes(env.apiKey), `a log line has the API key: ${line}`);
  }
  const urls = lines.filter((l) => l.msg === 'incoming request').map((l) => l.req.url as string);
  const path = (u: string) => u.slice(new URL(u).origin.length);
  assert.ok(urls.includes(`${path(syslog).replace(/token=[\w-]+/, 'token=[REDACTED]')}&ch=serial&tail=1&lines=1&ansi`), urls.join('\n'));
  assert.ok(urls.includes(`${path(container).replace(/token=[\w-]+/, 'token=[REDACTED]')}&text&bare`), urls.join('\n'));
  assert.ok(urls.includes(`/logs/nothing-here?cvm=${cvm.vm.vm_uuid}&token=[REDACTED]`), urls.join('\n'));
  assert.ok(urls.includes('/api/v1/auth/me'), urls.join('\n'));
  assert.ok(lines.some((l) => l.msg === `relaying ${syslog.replace(/token=[\w-]+/, 'token=[REDACTED]')}&ch=serial`));
  const errLine = lines.find((l) => l.msg === 'relay failed')!;
  assert.match(errLine.err.message, /token=\[REDACTED\]&follow$/);
  assert.match(errLine.err.stack, /token=\[REDACTED\]&follow/);
});
