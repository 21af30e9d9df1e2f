/**
 * Log URL tokens (services/log-urls.ts) are bearer secrets: they never reach the server log, and each URL
 * expires (the server's clock is injected here and moved by hand), so a URL copied out of a terminal or a
 * log stops working; reading the CVM again (v2025 `GET /cvms/{id}` and list items, `GET
 * /cvms/{id}/composition`) hands out a fresh one, which is what the `phala` CLI does on every run.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from '@phala/cloud';
import { makeCli } from './testing/cli.ts';
import { deployRunning } from './testing/deploy.ts';
import { startTestEnv, type TestEnv } from './testing/harness.ts';
import { waitFor } from './testing/wait.ts';

const TTL_MS = 15 * 60_000;
/** the server's clock for log URLs: the real time, unless a test set it */
let nowMs: number | null = null;
const clock = () => nowMs ?? Date.now();
/** every line the server logged */
const logLines: string[] = [];

let env: TestEnv;
before(async () => {
  env = await startTestEnv({
    config: { reconcileMs: 100 },
    server: { logger: true, logStream: { write: (line) => logLines.push(line) }, logUrls: { ttlMs: TTL_MS, now: clock } },
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
    /** the v2025 list item's */
    listed: async () => ((await legacy().getCvmList({ page_size: 100 })).items as any[]).find((i) => i.hosted?.id === vm.vm_uuid).syslog_endpoint as string,
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
const envelopeOf = async (res: Response) => ((await res.json()) as { detail: { error_code: string; message: string } }).detail;

/** The JSON log lines logged since `from`. */
const loggedSince = (from: number) => logLines.slice(from).map((l) => JSON.parse(l) as Record<string, any>);

test(`no log line carries a log URL's token or an API key; the request is logged with token=[REDACTED]`, async () => {
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
  // refused (its exp moved) and not found: still logged, still redacted
  const refused = await fetch(withParam(`${syslog}&ch=serial`, 'exp', String(Number(param(syslog, 'exp')) + 1)));
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

test('a log URL works until its exp, then is refused with 403 telling to read the CVM again; a re-read gives a working URL', async () => {
  nowMs = null;
  const cvm = await deploy('expiring-app');
  const urls = { syslog: await cvm.syslog(), listed: await cvm.listed(), container: await cvm.container() };
  const use = (which: keyof typeof urls, url = urls[which]) => fetch(which === 'container' ? `${url}&text&bare` : `${url}&ch=serial&tail=1&lines=1`);
  for (const [which, url] of Object.entries(urls)) {
    const exp = Number(param(url, 'exp'));
    // the expiry travels in the URL: 15 minutes from the read (rounded up to the second)
    assert.ok(exp * 1000 >= clock() + TTL_MS - 60_000 && exp * 1000 <= clock() + TTL_MS + 1000, `${which}: exp ${exp}`);
    const res = await use(which as keyof typeof urls);
    assert.equal(res.status, 200, which);
    await res.text();
  }

  // a URL works until the millisecond before its exp, and is refused from its exp on
  const expMs = (which: keyof typeof urls) => Number(param(urls[which], 'exp')) * 1000;
  nowMs = expMs('syslog') - 1;
  const justBefore = await use('syslog');
  assert.equal(justBefore.status, 200);
  await justBefore.text();
  nowMs = expMs('syslog');
  const atExp = await use('syslog');
  assert.equal(atExp.status, 403);
  await atExp.body?.cancel();
  nowMs = Math.max(expMs('syslog'), expMs('listed'), expMs('container'));
  for (const which of Object.keys(urls) as (keyof typeof urls)[]) {
    const res = await use(which);
    assert.equal(res.status, 403, which);
    const detail = await envelopeOf(res);
    assert.equal(detail.error_code, 'ERR-03-005');
    assert.match(detail.message, /log URL expired at \d{4}-\d\d-\d\dT[\d:.]+Z/);
    assert.match(detail.message, /read the CVM again for a fresh log URL: GET \/cvms\/\{id\}/);
  }

  // each read hands out a fresh URL with a fresh expiry, which works
  const fresh = { syslog: await cvm.syslog(), listed: await cvm.listed(), container: await cvm.container() };
  for (const [which, url] of Object.entries(fresh)) {
    assert.ok(Number(param(url, 'exp')) * 1000 > clock(), which);
    assert.notEqual(param(url, 'token'), param(urls[which as keyof typeof urls], 'token'), which);
    const res = await use(which as keyof typeof urls, url);
    assert.equal(res.status, 200, which);
    await res.text();
  }

  // the CLI reads the CVM on each run, so its log commands keep working
  const cli = makeCli(env.apiUrl, env.apiKey);
  const logs = await cli.run(['logs', 'web', '--cvm-id', 'expiring-app']);
  assert.equal(logs.code, 0, logs.stdout + logs.stderr);
  assert.equal(logs.stdout, 'started nginx:latest\nready\n');
  const serial = await cli.run(['logs', '--serial', '--cvm-id', 'expiring-app']);
  assert.equal(serial.code, 0, serial.stdout + serial.stderr);
  assert.match(serial.stdout, /boot progress: done/);
});

test('the token signs the expiry: a URL whose exp was moved, or taken out, is refused', async () => {
  nowMs = null;
  const cvm = await deploy('tampered-app');
  for (const url of [`${await cvm.syslog()}&ch=serial`, `${await cvm.container()}&text&bare`]) {
    const exp = Number(param(url, 'exp'));
    for (const moved of [String(exp + 3600), String(exp - 1), `${exp}0`, '', null]) {
      const res = await fetch(withParam(url, 'exp', moved));
      assert.equal(res.status, 403, `exp=${moved}`);
      const detail = await envelopeOf(res);
      assert.equal(detail.error_code, 'ERR-03-005');
      assert.match(detail.message, /token is not valid for this CVM: read the CVM again/);
    }
    // moved after it expired: still refused as not valid, not served
    nowMs = (exp + 10) * 1000;
    const late = await fetch(withParam(url, 'exp', String(exp + 3600)));
    assert.equal(late.status, 403);
    assert.match((await envelopeOf(late)).message, /not valid/);
    nowMs = null;
    const ok = await fetch(url);
    assert.equal(ok.status, 200, 'the URL as handed out still works');
    await ok.text();
  }
});

test('a followed stream opened with a valid URL runs on past its expiry', async () => {
  nowMs = null;
  const cvm = await deploy('followed-app');
  const url = `${await cvm.syslog()}&ch=serial&follow&lines=0`;
  const res = await fetch(url);
  assert.equal(res.status, 200);
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();

  nowMs = Number(param(url, 'exp')) * 1000 + 60_000;
  const again = await fetch(url);
  assert.equal(again.status, 403, 'a new request with the same URL is refused now');
  await again.body?.cancel();

  // a graceful shutdown writes to the serial console: the open stream still shows it, then ends
  await client().shutdownCvm({ id: cvm.vm.vm_uuid! });
  let text = '';
  const deadline = setTimeout(() => void reader.cancel(), 15_000);
  for (;;) {
    const chunk = await reader.read();
    if (chunk.done) break;
    text += decoder.decode(chunk.value, { stream: true });
  }
  clearTimeout(deadline);
  assert.match(text, /shutdown progress: stopping containers[^]*reboot: Power down/);
  nowMs = null;
});
