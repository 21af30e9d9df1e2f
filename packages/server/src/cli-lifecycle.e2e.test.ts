/**
 * The official `phala` CLI (1.1.18) against a real server and simulated host: `deploy`, the `cvms`
 * lifecycle commands and the catalogue and account commands, each exiting 0, with the host's state checked
 * after each change.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeCli } from './testing/cli.ts';
import { startTestEnv, type TestEnv } from './testing/harness.ts';
import { waitFor } from './testing/wait.ts';
import { cvmNameOf } from './services/host-vm-names.ts';

let env: TestEnv;
let cli: ReturnType<typeof makeCli>;
before(async () => {
  env = await startTestEnv();
  cli = makeCli(env.apiUrl, env.apiKey);
  writeFileSync(join(cli.home, 'docker-compose.yml'), 'services:\n  web:\n    image: nginx\n    environment:\n      - FOO=${FOO}\n');
  writeFileSync(join(cli.home, '.env'), 'FOO=bar\n');
});
after(async () => {
  await env?.close();
});

async function ok(args: string[]) {
  const r = await cli.run(args);
  assert.equal(r.code, 0, `phala ${args.join(' ')} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

const vmsOf = (name: string) => env.sim.listVms().filter((v) => cvmNameOf(v.name) === name || cvmNameOf(v.name).startsWith(`${name}-`));
async function settled(name: string, status: string) {
  await waitFor(async () => {
    const r = await fetch(`${env.apiUrl}/cvms/${name}`, { headers: { 'x-api-key': env.apiKey } });
    const j = await r.json();
    return j.status === status && !j.progress ? j : null;
  }, 20_000);
}

test('deploy, list, get, stop, start, restart, replicate, delete', async () => {
  await ok(['deploy', '-c', 'docker-compose.yml', '-e', '.env', '-n', 'cli-life']);
  await settled('cli-life', 'running');
  assert.equal(vmsOf('cli-life')[0].status, 'running');

  const list = await ok(['cvms', 'list']);
  assert.match(list, /cli-life/);
  const get = await ok(['cvms', 'get', 'cli-life']);
  assert.match(get, /running/);

  await ok(['cvms', 'stop', 'cli-life']);
  await settled('cli-life', 'stopped');
  assert.equal(vmsOf('cli-life')[0].status, 'stopped');

  await ok(['cvms', 'start', 'cli-life']);
  await settled('cli-life', 'running');
  assert.equal(vmsOf('cli-life')[0].status, 'running');

  await ok(['cvms', 'restart', 'cli-life']);
  await settled('cli-life', 'running');
  assert.equal(vmsOf('cli-life').length, 1);

  const rep = await ok(['cvms', 'replicate', 'cli-life']);
  assert.match(rep, /cli-life-[0-9a-f]{4}/);
  await waitFor(() => (vmsOf('cli-life').filter((v) => v.status === 'running' && v.bootProgress === 'done').length === 2 ? true : null), 20_000);

  await ok(['cvms', 'delete', 'cli-life', '-f']);
  await waitFor(() => (env.sim.listVms().some((v) => cvmNameOf(v.name) === 'cli-life') ? null : true), 20_000);
  assert.equal(vmsOf('cli-life').length, 1, 'the replica stays');
});

test('catalogue and account commands', async () => {
  assert.match(await ok(['status']), /Logged in as: admin/);
  assert.match(await ok(['instance-types']), /tdx\.small/);
  assert.match(await ok(['os-images']), /dstack-0\.5\.8/);
  assert.match(await ok(['nodes', 'list']), /sim-test/);
});
