import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_INSTANCE_TYPES } from './catalog.ts';
import { ApiError } from '@opencvm/contract';
import { RESOURCE_LIMITS, checkResourceLimits } from './resource-limits.ts';
import { canonicalJson, composeHashOf } from './compose-hash.ts';
import { planChange, type CvmConfig } from './updates.ts';

function refusal(fn: () => unknown): ApiError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ApiError, String(e));
    return e;
  }
  assert.fail('expected a refusal');
}

test('checkResourceLimits: the bounds themselves pass, one step outside is a 422 naming field, range and value', () => {
  for (const [key, { field, min, max, unit }] of Object.entries(RESOURCE_LIMITS)) {
    checkResourceLimits({ [key]: min });
    checkResourceLimits({ [key]: max });
    for (const bad of [min - 1, max + 1]) {
      const e = refusal(() => checkResourceLimits({ [key]: bad }));
      assert.equal(e.status, 422);
      assert.equal(e.code, 'ERR-02-008');
      assert.match(e.message, new RegExp(`^${field} must be between ${min} and ${max} ${unit}: got ${bad}`));
      assert.deepEqual(e.details.map((d) => [d.field, d.value]), [[field, bad]]);
      assert.doesNotMatch(e.message, /409|Conflict/);
    }
  }
  checkResourceLimits({});
});

test('checkResourceLimits: 4 MB (a "4G" read as MB) is refused with the range and what was probably meant', () => {
  const e = refusal(() => checkResourceLimits({ vcpu: 2, memory_mb: 4, disk_gb: 20 }));
  assert.equal(e.message, `memory must be between 512 and ${4 * 1024 * 1024} MB: got 4. memory is in MB (1 GB = 1024 MB): did you mean 4 GB?`);
  assert.deepEqual(e.suggestions, ['memory is in MB (1 GB = 1024 MB): did you mean 4 GB?']);
  // `phala cvms resize` retries any error whose message contains "409" (its conflict test) for minutes
  assert.doesNotMatch(e.message, /409|Conflict/);

  const all = refusal(() => checkResourceLimits({ vcpu: 513, memory_mb: 8 * 1024 * 1024, disk_gb: 1 }));
  assert.deepEqual(all.details.map((d) => d.field), ['vcpu', 'memory', 'disk_size'], 'every field out of range is named at once');
  assert.deepEqual(all.suggestions, []);
});

test('every built-in instance type is within the limits', () => {
  for (const t of DEFAULT_INSTANCE_TYPES) {
    checkResourceLimits({ vcpu: t.vcpu, memory_mb: t.memory_mb, disk_gb: t.default_disk_size_gb });
  }
});

const appCompose = canonicalJson({ name: 'app', runner: 'docker-compose', docker_compose_file: 'services:\n  a:\n    image: x\n', allowed_envs: [] });
const config = (over: Partial<CvmConfig> = {}): CvmConfig => ({
  app_compose: appCompose,
  compose_hash: composeHashOf(appCompose),
  encrypted_env: null,
  env_keys: [],
  user_config: null,
  vcpu: 1,
  memory_mb: 2048,
  disk_gb: 20,
  image: 'dstack-0.5.3',
  instance_type: null,
  listed: false,
  shutdown_timeout_s: null,
  allow_force_stop: false,
  ...over,
});

test('planChange refuses a size outside the limits, before anything else about it', () => {
  assert.equal(refusal(() => planChange(config(), { memory_mb: 4 })).status, 422);
  assert.match(refusal(() => planChange(config(), { vcpu: 1000 })).message, /^vcpu must be between 1 and 512 vCPUs: got 1000/);
  assert.match(refusal(() => planChange(config(), { disk_gb: 20_000 })).message, /^disk_size must be between 10 and 10000 GB: got 20000/);
  // below the floor is a limit refusal, not the "can only grow" one
  assert.match(refusal(() => planChange(config(), { disk_gb: 5 })).message, /^disk_size must be between/);
  assert.deepEqual(planChange(config(), { memory_mb: 512, vcpu: 512 }).changed, ['vcpu', 'memory_mb']);
});

test('planChange checks only the sizes that move: a CVM on an older, smaller size can still change the rest', () => {
  const legacy = config({ memory_mb: 256, disk_gb: 5 });
  // what `phala cvms resize --disk-size` sends: the other sizes as they are
  const plan = planChange(legacy, { vcpu: 1, memory_mb: 256, disk_gb: 30 });
  assert.deepEqual(plan.changed, ['disk_gb']);
  assert.deepEqual(planChange(legacy, { memory_mb: 256 }).changed, []);
  assert.equal(refusal(() => planChange(legacy, { memory_mb: 300 })).status, 422);
});
