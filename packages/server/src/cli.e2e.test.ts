/** The official `phala` CLI's deploy, against a real server and simulated host. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeCli } from './testing/cli.ts';
import { startTestEnv, type TestEnv } from './testing/harness.ts';
import { waitFor } from './testing/wait.ts';
import { cvmNameOf } from './services/host-vm-names.ts';

let env: TestEnv;
before(async () => {
  env = await startTestEnv();
});
after(async () => {
  await env?.close();
});

test('phala deploy -c -e -n boots the CVM with the .env sealed to the app key', async () => {
  const cli = makeCli(env.apiUrl, env.apiKey);
  writeFileSync(join(cli.home, 'docker-compose.yml'), 'services:\n  web:\n    image: nginx\n    environment:\n      - FOO=${FOO}\n');
  writeFileSync(join(cli.home, '.env'), 'FOO=bar baz\nexport SECRET="s3 # not a comment"\n');

  const status = await cli.run(['status']);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, /Logged in as: admin/);

  const deploy = await cli.run(['deploy', '-c', 'docker-compose.yml', '-e', '.env', '-n', 'cli-e2e-app']);
  assert.equal(deploy.code, 0, deploy.stdout + deploy.stderr);
  assert.match(deploy.stdout, /CVM created successfully/);

  const vm = await waitFor(() => env.sim.listVms().find((v) => cvmNameOf(v.name) === 'cli-e2e-app' && v.bootProgress === 'done') ?? null, 15_000);
  assert.deepEqual(vm.guest.env, { FOO: 'bar baz', SECRET: 's3 # not a comment' });

  const get = await cli.run(['cvms', 'get', 'cli-e2e-app', '--json']);
  assert.equal(get.code, 0, get.stderr);
  const info = JSON.parse(get.stdout.slice(get.stdout.indexOf('{')));
  assert.equal(info.name, 'cli-e2e-app');
  assert.equal(info.app_id, vm.appId);
});
