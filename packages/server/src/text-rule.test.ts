/**
 * Text the database cannot hold never reaches it: a NUL character anywhere a string goes into a request
 * (path, query, JSON field, raw text body), and a lone UTF-16 surrogate in a JSON field, are a 422
 * `ERR-02-008` naming the field — never a 500 — and change nothing. A `%25` in an `{id}` is decoded once:
 * a CVM named "%" is looked up (and not found), not decoded again. Driven by the official SDK, which sends
 * these strings as a client would.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import { ResourceError, createClient, getAppList, getCvmStatusBatch, patchCvm } from '@phala/cloud';
import { assertEnvelope, fetchAnswer } from './testing/envelope.ts';
import { deployRunning } from './testing/deploy.ts';
import { startTestEnv, type TestEnv } from './testing/harness.ts';
import { cvmNameOf } from './services/host-vm-names.ts';

const composeYaml = 'services:\n  web:\n    image: nginx:latest\n';

let env: TestEnv;
let witness: { vm_uuid: string; app_id: string; name: string };
before(async () => {
  env = await startTestEnv();
  const vm = await deployRunning(env, 'text-rule-witness', composeYaml);
  witness = { vm_uuid: vm.vm_uuid!, app_id: vm.app_id!, name: 'text-rule-witness' };
});
after(() => env?.close());

const sdk = () => createClient({ apiKey: env.apiKey, baseURL: env.apiUrl });

type Outcome = { status: number | undefined; code: string | undefined; fields: (string | undefined)[] };

/** The status, code and fields of the error the official SDK raised (200 if it raised none), and its value. */
async function attempt<T>(p: Promise<T>): Promise<{ outcome: Outcome; value?: T }> {
  try {
    return { outcome: { status: 200, code: undefined, fields: [] }, value: await p };
  } catch (e) {
    const err = e as ResourceError & { status?: number };
    return { outcome: { status: err.status, code: err instanceof ResourceError ? err.errorCode : undefined, fields: (err.structuredDetails ?? []).map((d) => d.field) } };
  }
}
const refusal = async (p: Promise<unknown>) => (await attempt(p)).outcome;

const refusedNaming = (field: string): Outcome => ({ status: 422, code: 'ERR-02-008', fields: [field] });

/**
 * Several requests checked at once, so that a failure shows every answer rather than the first wrong one:
 * `expect` records what a request must answer, `seen` what it answered (also requests only made when an
 * earlier one was wrongly accepted, e.g. the commit of a provision that should have been refused).
 */
function outcomes() {
  const seen: Record<string, Outcome> = {};
  const wanted: Record<string, Outcome> = {};
  return {
    async expect<T>(label: string, p: Promise<T>, want: Outcome): Promise<T | undefined> {
      wanted[label] = want;
      const r = await attempt(p);
      seen[label] = r.outcome;
      return r.value;
    },
    async unexpected(label: string, p: Promise<unknown>) {
      seen[label] = await refusal(p);
    },
    check() {
      const show = (x: Outcome | undefined) => (x ? `${x.status} ${x.code ?? '(no code)'}${x.fields.length ? ` naming ${x.fields.join(', ')}` : ''}` : 'not sent');
      const wrong = [...new Set([...Object.keys(wanted), ...Object.keys(seen)])]
        .filter((k) => !isDeepStrictEqual(seen[k], wanted[k]))
        .map((k) => `${k}: answered ${show(seen[k])}; expected ${wanted[k] ? show(wanted[k]) : 'not to be sent'}`);
      assert.equal(wrong.length, 0, `\n${wrong.join('\n')}`);
    },
  };
}

async function raw(method: string, path: string, body?: string, contentType = 'application/json') {
  return fetchAnswer(`${env.apiUrl}${path}`, {
    method,
    headers: { 'X-API-Key': env.apiKey, ...(body === undefined ? {} : { 'Content-Type': contentType }) },
    body,
  });
}

/** The witness's operations: nothing the refused requests sent may have queued one. */
async function operations(): Promise<string[]> {
  const a = await raw('GET', `/cvms/${witness.vm_uuid}/operations?limit=100`);
  assert.equal(a.status, 200, a.body);
  return (JSON.parse(a.body) as { items: { correlation_id: string }[] }).items.map((o) => o.correlation_id);
}

test('%25 in {id} is decoded once: GET and PATCH /cvms/%25 and the other {id} routes answer 404 ERR-03-001, not 500', async () => {
  const o = outcomes();
  const notFound: Outcome = { status: 404, code: 'ERR-03-001', fields: [] };
  await o.expect('getCvmInfo %25', sdk().getCvmInfo({ id: '%25' }), notFound);
  await o.expect('patchCvm %25', patchCvm(sdk(), { id: '%25', listed: true }), notFound);
  o.check();
  const routes: [string, string, string?][] = [
    ['GET', ''], ['GET', '/compose_file'], ['GET', '/docker-compose.yml'], ['GET', '/pre-launch-script'], ['GET', '/user_config'],
    ['GET', '/state'], ['GET', '/stats'], ['GET', '/network'], ['GET', '/composition'], ['GET', '/operations'],
    ['POST', '/start'], ['POST', '/stop'], ['POST', '/shutdown'], ['POST', '/restart', '{}'], ['POST', '/replicas', '{}'],
    ['PATCH', '', '{"listed":true}'], ['PATCH', '/visibility', '{"listed":true}'], ['PATCH', '/resources', '{"vcpu":2}'], ['DELETE', ''],
  ];
  for (const id of ['%25', '%2525', 'a%25b', `${witness.name}%25`, '%25' + witness.vm_uuid]) {
    for (const [method, suffix, body] of routes) {
      const a = await raw(method, `/cvms/${id}${suffix}`, body);
      assertEnvelope(a, 404, 'ERR-03-001', `${method} /cvms/${id}${suffix}`);
    }
  }
});

test('a NUL in a path id or a query is a 422 naming it: GET /cvms/%00, GET /apps?search=%00', async () => {
  const o = outcomes();
  await o.expect('getCvmInfo %00', sdk().getCvmInfo({ id: '%00' }), refusedNaming('id'));
  await o.expect('getCvmInfo <name>%00', sdk().getCvmInfo({ id: `${witness.name}%00` }), refusedNaming('id'));
  await o.expect('getAppList search NUL', getAppList(sdk(), { search: 'a\u0000b' }), refusedNaming('search'));
  o.check();
  assertEnvelope(await raw('GET', `/cvms/${witness.vm_uuid}/operations?limit=%00`), 422, 'ERR-02-008', 'limit=%00');
  assertEnvelope(await raw('POST', '/cvms/%00/stop'), 422, 'ERR-02-008', 'POST /cvms/%00/stop');
});

test('a compose with a NUL is refused the same way at provision and by every update, and nothing boots with it', async () => {
  const nulCompose = `${composeYaml}    command: ["echo", "a\u0000b"]\n`;
  const before = await operations();
  const o = outcomes();
  const p = await o.expect(
    'provision',
    sdk().provisionCvm({ name: 'nul-compose', compose_file: { docker_compose_file: nulCompose } }),
    refusedNaming('compose_file.docker_compose_file'),
  );
  if (p) await o.unexpected('commit of the accepted provision', sdk().commitCvmProvision({ app_id: p.app_id!, compose_hash: p.compose_hash }));
  await o.expect('PATCH /docker-compose', sdk().updateDockerCompose({ id: witness.vm_uuid, docker_compose_file: nulCompose }), refusedNaming('body'));
  await o.expect('PATCH /cvms/{id}', patchCvm(sdk(), { id: witness.vm_uuid, docker_compose_file: nulCompose }), refusedNaming('docker_compose_file'));
  await o.expect(
    'POST /compose_file/provision',
    sdk().provisionCvmComposeFileUpdate({ id: witness.vm_uuid, app_compose: { name: witness.name, docker_compose_file: nulCompose } }),
    refusedNaming('docker_compose_file'),
  );
  o.check();
  assert.equal(env.sim.listVms().filter((v) => cvmNameOf(v.name) === 'nul-compose').length, 0, 'no VM was created for the refused compose');
  assert.deepEqual(await operations(), before, 'no operation was queued');
  const compose = await raw('GET', `/cvms/${witness.vm_uuid}/docker-compose.yml`);
  assert.equal(compose.body, composeYaml);
});

test('a NUL in env_keys of a commit, or in allowed_envs, is a 422 naming the entry', async () => {
  const c = sdk();
  const o = outcomes();
  const p = await o.expect(
    'provision, NUL in allowed_envs',
    c.provisionCvm({ name: 'nul-allowed', compose_file: { docker_compose_file: composeYaml, allowed_envs: ['API_KEY', 'B\u0000'] } }),
    refusedNaming('compose_file.allowed_envs.1'),
  );
  if (p) {
    await o.unexpected('commit of it, the NUL key in env_keys', c.commitCvmProvision({ app_id: p.app_id!, compose_hash: p.compose_hash, env_keys: ['B\u0000'], encrypted_env: '00' }));
  }
  const ok = await c.provisionCvm({ name: 'nul-envkeys', compose_file: { docker_compose_file: composeYaml, allowed_envs: ['API_KEY'] } });
  await o.expect(
    'commit, NUL in env_keys',
    c.commitCvmProvision({ app_id: ok.app_id!, compose_hash: ok.compose_hash, env_keys: ['API_KEY\u0000'], encrypted_env: '00' }),
    refusedNaming('env_keys.0'),
  );
  o.check();
  assert.equal(env.sim.listVms().filter((v) => cvmNameOf(v.name).startsWith('nul-')).length, 0);
  assertEnvelope(await raw('PATCH', `/cvms/${witness.vm_uuid}/envs`, JSON.stringify({ encrypted_env: '00', env_keys: ['\u0000'] })), 422, 'ERR-02-008', 'PATCH /envs');
});

test('a NUL in user_config is a 422 at provision and in PATCH /cvms/{id}', async () => {
  const before = await operations();
  const o = outcomes();
  await o.expect(
    'provision',
    sdk().provisionCvm({ name: 'nul-userconfig', compose_file: { docker_compose_file: composeYaml }, user_config: '{"a":"\u0000"}' }),
    refusedNaming('user_config'),
  );
  await o.expect('PATCH /cvms/{id}', patchCvm(sdk(), { id: witness.vm_uuid, user_config: 'x\u0000y' }), refusedNaming('user_config'));
  o.check();
  assert.deepEqual(await operations(), before);
});

test('a NUL in a pre-launch script is a 422 at provision, in PATCH /cvms/{id} and in PATCH /cvms/{id}/pre-launch-script', async () => {
  const before = await operations();
  const o = outcomes();
  await o.expect(
    'provision',
    sdk().provisionCvm({ name: 'nul-prelaunch', compose_file: { docker_compose_file: composeYaml, pre_launch_script: '#!/bin/sh\necho \u0000\n' } }),
    refusedNaming('compose_file.pre_launch_script'),
  );
  await o.expect('PATCH /cvms/{id}', patchCvm(sdk(), { id: witness.vm_uuid, pre_launch_script: 'echo \u0000' }), refusedNaming('pre_launch_script'));
  await o.expect(
    'PATCH /pre-launch-script',
    sdk().updatePreLaunchScript({ id: witness.vm_uuid, pre_launch_script: '#!/bin/sh\necho \u0000\n' }),
    refusedNaming('body'),
  );
  o.check();
  assert.deepEqual(await operations(), before);
});

test('a lone surrogate in a JSON field is a 422 naming it', async () => {
  const before = await operations();
  const o = outcomes();
  await o.expect(
    'provision, user_config',
    sdk().provisionCvm({ name: 'lone-surrogate', compose_file: { docker_compose_file: composeYaml }, user_config: 'x\ud800' }),
    refusedNaming('user_config'),
  );
  await o.expect(
    'provision, compose_file.name',
    sdk().provisionCvm({ name: 'lone-surrogate', compose_file: { docker_compose_file: composeYaml, name: '\udc00' } }),
    refusedNaming('compose_file.name'),
  );
  await o.expect('PATCH user_config', patchCvm(sdk(), { id: witness.vm_uuid, user_config: 'y\udfff' }), refusedNaming('user_config'));
  await o.expect('PATCH docker_compose_file', patchCvm(sdk(), { id: witness.vm_uuid, docker_compose_file: `${composeYaml}# \ud83d\n` }), refusedNaming('docker_compose_file'));
  await o.expect('status batch', getCvmStatusBatch(sdk(), { vmUuids: [witness.vm_uuid, '\ud800'] }), refusedNaming('vm_uuids.1'));
  o.check();
  assert.deepEqual(await operations(), before);
  assert.equal(env.sim.listVms().filter((v) => cvmNameOf(v.name) === 'lone-surrogate').length, 0);
});

test('after all of it the witness CVM still runs, unchanged', async () => {
  const info = await sdk().getCvmInfo({ id: witness.vm_uuid });
  assert.equal(info.status, 'running');
  const vm = env.sim.listVms().find((v) => cvmNameOf(v.name) === witness.name);
  assert.equal(vm?.status, 'running');
});
