/**
 * Log URLs as the `phala` CLI fetches them, and the official CLI's `ps` and `logs` against a real server and
 * the simulated host: signed URLs work without an API key and cannot be forged, `public_logs` opens container
 * logs (never serial), `follow` streams until the host ends it, and the CLI prints the sim's real lines
 * (`logs` with no container picks container logs or the serial console from the CVM's status). Expiry and
 * the server log's redaction: log-urls.test.ts.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from '@phala/cloud';
import { makeCli } from './testing/cli.ts';
import { startTestEnv, type TestEnv } from './testing/harness.ts';
import { waitFor } from './testing/wait.ts';
import { deployRunning, settle } from './testing/deploy.ts';

let env: TestEnv;
before(async () => {
  env = await startTestEnv({ config: { reconcileMs: 100 } });
});
after(async () => {
  await env?.close();
});

const client = () => createClient({ apiKey: env.apiKey, baseURL: env.apiUrl });
const legacy = () => createClient({ apiKey: env.apiKey, baseURL: env.apiUrl, version: '2025-10-28' } as any);

/** Deploy, wait until it runs and the reconciler has read its containers; answers the composition. */
async function deploy(name: string, dockerCompose: string, publicLogs?: boolean) {
  const c = client();
  const p = await c.provisionCvm({
    name,
    compose_file: { docker_compose_file: dockerCompose, ...(publicLogs === undefined ? {} : { public_logs: publicLogs }) },
  });
  const vm = await c.commitCvmProvision({ app_id: p.app_id!, compose_hash: p.compose_hash });
  const comp = await waitFor(async () => {
    const r = await c.getCvmContainersStats({ id: vm.vm_uuid! });
    return r.is_online ? r : null;
  }, 15_000);
  const syslog = ((await legacy().getCvmInfo({ id: vm.vm_uuid! })) as any).syslog_endpoint as string;
  return { vm, comp, syslog, endpoint: (container: string) => comp.containers!.find((k) => k.names.includes(`/${container}`))!.log_endpoint! };
}

/** Reads a streamed body piece by piece: `until(re)` waits for text matching `re`, `toEnd()` for the end. */
function streamOf(res: Response) {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  let ended = false;
  const more = async (deadline: number): Promise<boolean> => {
    const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), Math.max(0, deadline - Date.now())).unref());
    const chunk = await Promise.race([reader.read(), timeout]);
    if (chunk === 'timeout') return false;
    if (chunk.done) ended = true;
    else text += decoder.decode(chunk.value, { stream: true });
    return true;
  };
  return {
    get text() {
      return text;
    },
    async until(re: RegExp, timeoutMs = 10_000): Promise<string> {
      const deadline = Date.now() + timeoutMs;
      while (!re.test(text)) {
        if (ended || !(await more(deadline))) throw new Error(`no ${re} in the stream${ended ? ' (it ended)' : ''}:\n${text}`);
      }
      return text;
    },
    /** True if the stream ended within the time. */
    async toEnd(timeoutMs = 10_000): Promise<boolean> {
      const deadline = Date.now() + timeoutMs;
      while (!ended) if (!(await more(deadline))) break;
      if (!ended) await reader.cancel();
      return ended;
    },
  };
}

const envelopeOf = async (res: Response) => ((await res.json()) as { detail: { error_code: string; message: string } }).detail;

test(`the official CLI: ps lists the containers, logs prints a container's lines and the serial console`, async () => {
  await deploy('cli-logs-app', 'services:\n  web:\n    image: nginx:latest\n  cache:\n    image: redis:7\n');
  const cli = makeCli(env.apiUrl, env.apiKey);

  const ps = await cli.run(['ps', 'cli-logs-app']);
  assert.equal(ps.code, 0, ps.stdout + ps.stderr);
  assert.match(ps.stdout, /NAME\s+IMAGE\s+CREATED\s+STATUS\s+STATE/);
  assert.match(ps.stdout, /web\s+nginx:latest\s+.*Up .*running/);
  assert.match(ps.stdout, /cache\s+redis:7/);

  const logs = await cli.run(['logs', 'web', '--cvm-id', 'cli-logs-app']);
  assert.equal(logs.code, 0, logs.stdout + logs.stderr);
  assert.equal(logs.stdout, 'started nginx:latest\nready\n', 'only the web container, without compose\'s prefix');

  const tail = await cli.run(['logs', 'cache', '--cvm-id', 'cli-logs-app', '-n', '1']);
  assert.equal(tail.code, 0, tail.stdout + tail.stderr);
  assert.equal(tail.stdout, 'ready\n');

  const serial = await cli.run(['logs', '--serial', '--cvm-id', 'cli-logs-app']);
  assert.equal(serial.code, 0, serial.stdout + serial.stderr);
  assert.match(serial.stdout, /Linux version 6\.9\.0-dstack/);
  assert.match(serial.stdout, /boot progress: requesting app keys/);
  assert.match(serial.stdout, /boot progress: done/);

  const stdout = await cli.run(['logs', '--cvm-stdout', '--cvm-id', 'cli-logs-app']);
  assert.equal(stdout.code, 0, stdout.stdout + stdout.stderr);
  assert.match(stdout.stdout, /web-1 {2}\| started nginx:latest/);
  assert.match(stdout.stdout, /cache-1 {2}\| ready/);
});

test('log URLs work without an API key, in the guest agent\'s formats, and honour tail', async () => {
  const { vm, syslog, endpoint } = await deploy('url-app', 'services:\n  web:\n    image: nginx:latest\n  side:\n    image: busybox\n');
  assert.match(syslog, new RegExp(`^${env.server.url}/logs/syslog\\?cvm=${vm.vm_uuid}&exp=\\d+&token=[\\w-]+$`));

  const serial = await fetch(`${syslog}&ch=serial&tail=3&lines=3&ansi`);
  assert.equal(serial.status, 200);
  assert.match(serial.headers.get('content-type')!, /^text\/plain/);
  const serialLines = (await serial.text()).trimEnd().split('\n');
  assert.equal(serialLines.length, 3);
  assert.match(serialLines.at(-1)!, /boot progress: done/);

  // default: JSON lines, message in base64 (what `phala logs <container>` parses)
  const json = await fetch(`${endpoint('web')}&ansi`);
  assert.equal(json.status, 200);
  const entries = (await json.text()).trimEnd().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(
    entries.map((e) => [e.channel, Buffer.from(e.message, 'base64').toString()]),
    [['stdout', 'started nginx:latest\n'], ['stdout', 'ready\n']],
  );
  const text = await fetch(`${endpoint('side')}&text`);
  assert.deepEqual((await text.text()).trimEnd().split('\n').map((l) => JSON.parse(l).message), ['started busybox\n', 'ready\n']);
  const bare = await fetch(`${endpoint('side')}&text&bare&tail=1&lines=1`);
  assert.equal(await bare.text(), 'ready\n');
  const none = await fetch(`${endpoint('web').replace('/container/web?', '/container/nope?')}&text&bare`);
  assert.equal(none.status, 200);
  assert.equal(await none.text(), '', 'a name no container has shows nothing');
});

test('tokens: a forged or borrowed token is refused; serial always needs one; public_logs opens container logs only', async () => {
  const open = await deploy('public-logs-app', 'services:\n  web:\n    image: nginx:latest\n');
  const closed = await deploy('private-logs-app', 'services:\n  api:\n    image: busybox\n', false);
  assert.equal((await client().getCvmContainersStats({ id: 'private-logs-app' })).is_public, false);

  const withToken = (url: string, token: string | null) => {
    const u = new URL(url);
    if (token === null) u.searchParams.delete('token');
    else u.searchParams.set('token', token);
    return u.toString();
  };
  const tokenOf = (url: string) => new URL(url).searchParams.get('token')!;
  const forged = tokenOf(open.syslog).replace(/^./, (ch) => (ch === 'A' ? 'B' : 'A'));

  for (const url of [`${withToken(open.syslog, forged)}&ch=serial`, withToken(open.endpoint('web'), forged), withToken(closed.endpoint('api'), tokenOf(open.syslog))]) {
    const res = await fetch(url);
    assert.equal(res.status, 403, url);
    const detail = await envelopeOf(res);
    assert.equal(detail.error_code, 'ERR-03-005');
    assert.match(detail.message, /token is not valid for this CVM/);
  }

  // serial needs the token even when the app's logs are public
  const noTokenSerial = await fetch(`${withToken(open.syslog, null)}&ch=serial`);
  assert.equal(noTokenSerial.status, 401);
  assert.equal((await envelopeOf(noTokenSerial)).error_code, 'ERR-03-005');

  // public_logs: true → container logs without a token
  const publicRes = await fetch(`${withToken(open.endpoint('web'), null)}&text&bare`);
  assert.equal(publicRes.status, 200);
  assert.equal(await publicRes.text(), 'started nginx:latest\nready\n');

  // public_logs: false → refused without the token, served with it
  const privateNoToken = await fetch(`${withToken(closed.endpoint('api'), null)}&text&bare`);
  assert.equal(privateNoToken.status, 401);
  assert.match((await envelopeOf(privateNoToken)).message, /not public/);
  const privateWithToken = await fetch(`${closed.endpoint('api')}&text&bare`);
  assert.equal(privateWithToken.status, 200);
  assert.equal(await privateWithToken.text(), 'started busybox\nready\n');

  const badUuid = await fetch(`${env.server.url}/logs/syslog?cvm=nope&token=x&ch=serial`);
  assert.equal(badUuid.status, 400);
});

test('follow streams new lines until the host ends the stream; server shutdown ends open streams', async () => {
  const c = client();
  const { vm, syslog, endpoint } = await deploy('follow-app', 'services:\n  web:\n    image: nginx:latest\n');

  const serialRes = await fetch(`${syslog}&ch=serial&follow&tail=1&lines=1`);
  const containerRes = await fetch(`${endpoint('web')}&follow&text&bare`);
  assert.equal(serialRes.status, 200);
  assert.equal(containerRes.status, 200);
  const serial = streamOf(serialRes);
  const container = streamOf(containerRes);
  assert.equal((await serial.until(/\n/)).trimEnd().split('\n').length, 1, 'tail=1 before following');
  assert.match(serial.text, /boot progress: done/);
  assert.equal(await container.until(/ready\n/), 'started nginx:latest\nready\n');

  // a graceful shutdown writes to the serial console as it happens, then the VM's process ends and so
  // do the host's streams, and ours
  await c.shutdownCvm({ id: vm.vm_uuid! });
  await serial.until(/shutdown progress: stopping containers[^]*reboot: Power down/);
  assert.equal(await serial.toEnd(), true);
  assert.equal(await container.toEnd(), true);

  // a follow left open does not keep the server from closing
  await waitFor(async () => {
    const info = await c.getCvmInfo({ id: vm.vm_uuid! });
    return info.status === 'stopped' && !info.progress ? true : null;
  }, 15_000);
  await c.startCvm({ id: vm.vm_uuid! });
  await waitFor(async () => ((await c.getCvmInfo({ id: vm.vm_uuid! })).status === 'running' ? true : null), 15_000);
  const lingeringRes = await fetch(`${syslog}&ch=serial&follow&lines=0`);
  assert.equal(lingeringRes.status, 200);
  const lingering = streamOf(lingeringRes);
  const ended = lingering.toEnd();
  await env.restartServer();
  assert.equal(await ended, true);
});

test('the official CLI: logs with no container follows the CVM: container logs while running, the serial console otherwise', async () => {
  const cli = makeCli(env.apiUrl, env.apiKey);
  const running = await deployRunning(env, 'auto-logs-running', 'services:\n  web:\n    image: nginx:latest\n');
  const stopped = await deployRunning(env, 'auto-logs-stopped', 'services:\n  api:\n    image: busybox\n');
  await client().stopCvm({ id: stopped.vm_uuid! });
  await settle(env, stopped.vm_uuid!, 'stopped');
  // the CLI's container mode needs the composition to list the containers
  await waitFor(async () => ((await client().getCvmContainersStats({ id: running.vm_uuid! })).is_online ? true : null), 15_000);

  // running: the CLI looks the CVM up (v2026, app_id form), sees `running`, and prints the first container's
  // lines, bare: no serial console line, no compose prefix
  const live = await cli.run(['logs', '--cvm-id', running.vm_uuid!]);
  assert.equal(live.code, 0, live.stdout + live.stderr);
  assert.equal(live.stdout, 'started nginx:latest\nready\n');
  assert.doesNotMatch(live.stderr, /Falling back/);

  // stopped: no containers to read, so the lookup's status sends it to the serial console
  const serial = await cli.run(['logs', '--cvm-id', stopped.vm_uuid!]);
  assert.equal(serial.code, 0, serial.stdout + serial.stderr);
  assert.match(serial.stderr, /CVM is stopped\. Falling back to serial console logs\./);
  assert.match(serial.stdout, /Linux version 6\.9\.0-dstack/);
  assert.match(serial.stdout, /boot progress: done/);
  assert.doesNotMatch(serial.stdout, /started busybox/, 'not the container channel');

  // the same with the app id form the lookup itself uses (`app_<app_id>`)
  const byApp = await cli.run(['logs', '--cvm-id', `app_${stopped.app_id}`]);
  assert.equal(byApp.code, 0, byApp.stdout + byApp.stderr);
  assert.match(byApp.stderr, /CVM is stopped\. Falling back/);
  assert.match(byApp.stdout, /Linux version 6\.9\.0-dstack/);
});
