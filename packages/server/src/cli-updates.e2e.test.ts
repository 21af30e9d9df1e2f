/**
 * The official `phala` CLI (1.1.18) against a real server and simulated host: the configuration update
 * commands (`envs update`, `cvms resize`, `deploy --cvm-id`, `deploy --prepare-only` + `--commit`),
 * each checked on the host after the CVM has restarted.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SimVmView } from '@opencvm/vmm-sim';
import { makeCli } from './testing/cli.ts';
import { startTestEnv, type TestEnv } from './testing/harness.ts';
import { waitFor } from './testing/wait.ts';
import { cvmNameOf } from './services/host-vm-names.ts';

let env: TestEnv;
let cli: ReturnType<typeof makeCli>;

const COMPOSE_A = 'services:\n  web:\n    image: nginx\n    environment:\n      - FOO=${FOO}\n      - BAR=${BAR}\n';
const COMPOSE_B = 'services:\n  api:\n    image: redis\n    environment:\n      - FOO=${FOO}\n      - BAZ=${BAZ}\n';
const COMPOSE_C = 'services:\n  cache:\n    image: memcached\n';

before(async () => {
  env = await startTestEnv();
  cli = makeCli(env.apiUrl, env.apiKey);
  const files: Record<string, string> = {
    'compose-a.yml': COMPOSE_A,
    'compose-b.yml': COMPOSE_B,
    'compose-c.yml': COMPOSE_C,
    'a.env': 'FOO=one\nBAR=two\n',
    'b.env': 'FOO=uno\nBAZ=three\n',
  };
  for (const [name, text] of Object.entries(files)) writeFileSync(join(cli.home, name), text);
});
after(async () => {
  await env?.close();
});

async function run(args: string[]) {
  const r = await cli.run(args);
  return { ...r, out: `${r.stdout}\n${r.stderr}` };
}
async function ok(args: string[]) {
  const r = await run(args);
  assert.equal(r.code, 0, `phala ${args.join(' ')} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r.out;
}

async function getCvm(name: string) {
  const r = await fetch(`${env.apiUrl}/cvms/${name}`, { headers: { 'x-api-key': env.apiKey } });
  assert.equal(r.status, 200, `GET /cvms/${name}`);
  return r.json() as Promise<{ status: string; progress: unknown; compose_hash: string; vm_uuid: string }>;
}

const vmsOf = (name: string) => env.sim.listVms().filter((v) => cvmNameOf(v.name) === name);

/** The CVM shows `running` with no operation under way, and its one host VM has booted. */
async function settledRunning(name: string): Promise<SimVmView> {
  await waitFor(async () => {
    const j = await getCvm(name);
    return j.status === 'running' && !j.progress ? j : null;
  }, 20_000);
  const vms = vmsOf(name);
  assert.equal(vms.length, 1, `one host VM for ${name}`);
  assert.equal(vms[0].status, 'running');
  assert.equal(vms[0].bootProgress, 'done');
  return vms[0];
}

async function deploy(name: string, compose: string, envFile: string) {
  await ok(['deploy', '-c', compose, '-e', envFile, '-n', name]);
  return settledRunning(name);
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const composeOf = (vm: SimVmView) => JSON.parse(vm.configuration.compose_file) as { docker_compose_file: string; allowed_envs: string[] };

test('envs update: the guest boots with exactly the new env, the old keys gone', async () => {
  const before = await deploy('cli-envs', 'compose-a.yml', 'a.env');
  assert.deepEqual(before.guest.env, { FOO: 'one', BAR: 'two' });

  const out = await ok(['envs', 'update', 'cli-envs', '-e', 'b.env']);
  assert.match(out, /Environment update initiated \(correlation_id: [^)]+\)/);

  const vm = await settledRunning('cli-envs');
  assert.equal(vm.id, before.id, 'the same host VM, restarted');
  assert.deepEqual(vm.guest.env, { FOO: 'uno', BAZ: 'three' });
  assert.deepEqual(vm.guest.droppedEnvKeys, []);
  // the CLI sent env_keys [FOO, BAZ]: allowed_envs changed with them, and so did the compose hash
  assert.deepEqual(composeOf(vm).allowed_envs, ['FOO', 'BAZ']);
  assert.notEqual(vm.composeHash, before.composeHash);
  assert.equal((await getCvm('cli-envs')).compose_hash, vm.composeHash);
});

test('cvms resize: the host VM gets the new vCPU, memory and disk after its stop and start', async () => {
  const before = await deploy('cli-resize', 'compose-a.yml', 'a.env');
  const c0 = before.configuration;
  const want = { vcpu: c0.vcpu + 1, memory: c0.memory + 1024, disk_size: c0.disk_size + 10 };

  // without -r the CLI asks "Allow restart?" even with -y (outside --json mode)
  const out = await ok(['cvms', 'resize', 'cli-resize', '--vcpu', String(want.vcpu), '--memory', String(want.memory), '--disk-size', String(want.disk_size), '-r', 'true', '-y']);
  assert.match(out, /being resized/);

  const vm = await settledRunning('cli-resize');
  assert.equal(vm.id, before.id, 'resized in place: no second VM');
  assert.deepEqual({ vcpu: vm.configuration.vcpu, memory: vm.configuration.memory, disk_size: vm.configuration.disk_size }, want);
  assert.equal(vm.composeHash, before.composeHash, 'the compose is untouched');
  assert.deepEqual(vm.guest.env, { FOO: 'one', BAR: 'two' }, 'the env survives the resize');

  // --json mode: no prompt, restart allowed by default, the values left out are taken from the CVM's resource
  const json = await ok(['cvms', 'resize', 'cli-resize', '--disk-size', String(want.disk_size + 5), '--json']);
  assert.match(json, /"success": true/);
  const vm2 = await settledRunning('cli-resize');
  assert.equal(vm2.id, before.id);
  assert.deepEqual({ vcpu: vm2.configuration.vcpu, memory: vm2.configuration.memory, disk_size: vm2.configuration.disk_size }, { ...want, disk_size: want.disk_size + 5 });
});

test('deploy --cvm-id: the existing CVM runs the new compose and env', async () => {
  const before = await deploy('cli-upd', 'compose-a.yml', 'a.env');

  const out = await ok(['deploy', '--cvm-id', 'cli-upd', '-c', 'compose-b.yml', '-e', 'b.env', '--wait']);
  assert.match(out, /CVM updated successfully|"success": true/);

  const vm = await settledRunning('cli-upd');
  assert.equal(vm.id, before.id, 'updated in place: no second VM');
  const cvm = await getCvm('cli-upd');
  assert.equal(sha256(vm.configuration.compose_file), cvm.compose_hash);
  assert.notEqual(cvm.compose_hash, before.composeHash);
  assert.equal(composeOf(vm).docker_compose_file, COMPOSE_B);
  assert.doesNotMatch(vm.configuration.compose_file, /nginx/, 'the old compose is gone');
  assert.deepEqual(vm.guest.containers.map((c) => c.image), ['redis']);
  assert.deepEqual(vm.guest.env, { FOO: 'uno', BAZ: 'three' });
});

test('deploy --cvm-id twice with the same compose: both exit 0, the second changes nothing and queues nothing', async () => {
  const before = await deploy('cli-same', 'compose-a.yml', 'a.env');
  await ok(['deploy', '--cvm-id', 'cli-same', '-c', 'compose-c.yml', '--wait']);
  const first = await settledRunning('cli-same');
  assert.equal(first.id, before.id);
  assert.equal(composeOf(first).docker_compose_file, COMPOSE_C);
  const operations = async () => {
    const r = await fetch(`${env.apiUrl}/cvms/cli-same/operations?limit=100`, { headers: { 'x-api-key': env.apiKey } });
    return ((await r.json()) as { items: { kind: string; state: string; step: string | null }[] }).items;
  };
  const ops0 = await operations();

  // the same deploy again, watching the CVM the whole time it runs
  const seen = new Set<string>();
  let watching = true;
  const watcher = (async () => {
    while (watching) {
      const cvm = await getCvm('cli-same');
      seen.add(cvm.progress ? `${cvm.status} (in progress)` : cvm.status);
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  const out = await ok(['deploy', '--cvm-id', 'cli-same', '-c', 'compose-c.yml', '--wait']).finally(() => { watching = false; });
  await watcher;
  assert.match(out, /CVM updated successfully|"success": true/);
  assert.deepEqual([...seen], ['running'], 'the CVM never left running');

  const ops = await operations();
  assert.equal(ops.length, ops0.length + 1);
  assert.deepEqual(ops[0], { ...ops[0], kind: 'update', state: 'succeeded', step: 'unchanged' }, 'no operation queued: one already finished, saying nothing changed');
  const vm = await settledRunning('cli-same');
  assert.deepEqual(
    { id: vm.id, status: vm.status, composeHash: vm.composeHash, configuration: vm.configuration, env: vm.guest.env },
    { id: first.id, status: first.status, composeHash: first.composeHash, configuration: first.configuration, env: first.guest.env },
    'the host VM is as it was: not restarted, nothing sent',
  );
});

test('cvms upgrade (deprecated): PUT /cvms/app_<id>/compose updates the compose and the env in place', async () => {
  const before = await deploy('cli-legacy', 'compose-a.yml', 'a.env');
  const out = await ok(['cvms', 'upgrade', `app_${before.appId}`, '-c', 'compose-b.yml', '-e', 'b.env']);
  assert.match(out, /being upgraded/);
  assert.match(out, /correlation_id/);
  const vm = await settledRunning('cli-legacy');
  assert.equal(vm.id, before.id, 'upgraded in place: no second VM');
  assert.equal(composeOf(vm).docker_compose_file, COMPOSE_B);
  assert.deepEqual(composeOf(vm).allowed_envs, ['FOO', 'BAZ']);
  assert.equal(JSON.parse(vm.configuration.compose_file).name, JSON.parse(before.configuration.compose_file).name, "the manifest's app_<id> name is not taken");
  assert.deepEqual(vm.guest.env, { FOO: 'uno', BAZ: 'three' });
  assert.equal((await getCvm('cli-legacy')).compose_hash, vm.composeHash);
});

test('deploy --prepare-only changes nothing; --commit applies it once', async () => {
  const before = await deploy('cli-prep', 'compose-a.yml', 'a.env');
  const hash0 = (await getCvm('cli-prep')).compose_hash;

  const prepared = await ok(['deploy', '--cvm-id', 'cli-prep', '-c', 'compose-c.yml', '--prepare-only']);
  const token = /"commit_token":\s*"([^"]+)"/.exec(prepared)?.[1] ?? /Commit Token:\s+(\S+)/.exec(prepared)?.[1];
  assert.ok(token && token !== 'N/A', `a commit token in:\n${prepared}`);

  // nothing moved: same record, same host VM, still running the first compose
  const idle = await getCvm('cli-prep');
  assert.equal(idle.status, 'running');
  assert.equal(idle.progress, null);
  assert.equal(idle.compose_hash, hash0);
  const unchanged = vmsOf('cli-prep');
  assert.equal(unchanged.length, 1);
  assert.equal(unchanged[0].composeHash, before.composeHash);
  assert.equal(composeOf(unchanged[0]).docker_compose_file, COMPOSE_A);

  const committed = await ok(['deploy', '--cvm-id', 'cli-prep', '--commit', '--token', token]);
  assert.match(committed, /correlation/i);
  const vm = await settledRunning('cli-prep');
  assert.equal(vm.id, before.id);
  assert.equal(composeOf(vm).docker_compose_file, COMPOSE_C);
  assert.equal(sha256(vm.configuration.compose_file), (await getCvm('cli-prep')).compose_hash);
  assert.deepEqual(vm.guest.containers.map((c) => c.image), ['memcached']);

  const again = await run(['deploy', '--cvm-id', 'cli-prep', '--commit', '--token', token]);
  assert.equal(again.code, 1, `a second commit fails\n${again.out}`);
  assert.match(again.out, /already used/);
  assert.equal(vmsOf('cli-prep')[0].composeHash, vm.composeHash, 'and changes nothing');
});
