/**
 * Configuration updates (`patchCvm`, `provisionCvmComposeFileUpdate` and the single-aspect updates): the request schemas of every update endpoint, and the one
 * pure function that turns a CVM's current configuration plus a patch into the next configuration.
 * Every endpoint (resources, visibility, envs, compose, the unified PATCH, a rollback) is a patch.
 */
import { ErrorCodes, badRequest } from '@opencvm/contract';
import { canonicalJson, composeHashOf } from './compose-hash.ts';
import { checkComposeSize, checkDockerCompose } from './provision.ts';
import { checkResourceLimits } from './resource-limits.ts';

/** The part of a CVM that updates change. `app_compose` is the exact hashed text. */
export interface CvmConfig {
  app_compose: string;
  compose_hash: string;
  encrypted_env: string | null;
  env_keys: string[];
  user_config: string | null;
  vcpu: number;
  memory_mb: number;
  disk_gb: number;
  image: string;
  instance_type: string | null;
  listed: boolean;
  shutdown_timeout_s: number | null;
  allow_force_stop: boolean;
}

/** Fields of the app-compose a patch may set (the rest of the compose is kept as it is). */
export interface ComposePatch {
  docker_compose_file?: string;
  pre_launch_script?: string | null;
  allowed_envs?: string[];
  public_logs?: boolean;
  public_sysinfo?: boolean;
  public_tcbinfo?: boolean;
  /** a whole new app-compose (compose-file provision, rollback): replaces the current one */
  replace?: Record<string, unknown>;
}

/** One change set, whatever endpoint it came from. Absent means "leave as it is". */
export interface ConfigPatch {
  compose?: ComposePatch;
  encrypted_env?: string;
  /** the keys the (new) sealed env carries; 'allowed_envs': exactly what the resulting compose lets through */
  env_keys?: string[] | 'allowed_envs';
  user_config?: string;
  vcpu?: number;
  memory_mb?: number;
  disk_gb?: number;
  image?: string;
  instance_type?: string | null;
  listed?: boolean;
  shutdown_timeout_s?: number;
  allow_force_stop?: boolean;
}

export interface PlannedChange {
  next: CvmConfig;
  /** the fields whose value changes */
  changed: (keyof CvmConfig)[];
  composeChanged: boolean;
  allowedEnvsChanged: boolean;
  /** whether the host must be told (and so the CVM restarted) */
  needsHost: boolean;
}

/** Fields that live only in the control plane: changing them never touches the host. */
const RECORD_ONLY: (keyof CvmConfig)[] = ['listed', 'shutdown_timeout_s', 'allow_force_stop', 'instance_type'];

const sameList = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x, i) => x === b[i]);
const sameSet = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x) => b.includes(x));
const normHex = (h: string) => h.replace(/^0x/, '').toLowerCase();

/** The app-compose a patch leads to: the current one with the patched fields set (or a replacement). */
function nextCompose(current: Record<string, unknown>, patch: ComposePatch): Record<string, unknown> {
  const next: Record<string, unknown> = patch.replace ? { ...patch.replace } : { ...current };
  if (patch.docker_compose_file !== undefined) next.docker_compose_file = patch.docker_compose_file;
  if (patch.pre_launch_script !== undefined) {
    if (patch.pre_launch_script) next.pre_launch_script = patch.pre_launch_script;
    else delete next.pre_launch_script;
  }
  if (patch.allowed_envs !== undefined) {
    // the same keys in another order are the same allowance: keep the order that is hashed now
    const now = (current.allowed_envs as string[] | undefined) ?? [];
    next.allowed_envs = sameSet(now, patch.allowed_envs) ? now : [...new Set(patch.allowed_envs)];
  }
  for (const k of ['public_logs', 'public_sysinfo', 'public_tcbinfo'] as const) {
    if (patch[k] !== undefined) next[k] = patch[k];
  }
  return next;
}

/**
 * Apply a patch to a CVM's configuration: validates what it can without I/O (compose YAML and size,
 * vCPU/memory/disk within `RESOURCE_LIMITS`, disk growth, env keys against `allowed_envs`;
 * `sealedEnvCheck: false` leaves that one to a later phase that may bring a new sealed env) and says what
 * changed. Capacity and image checks need the node and are the caller's.
 */
export function planChange(current: CvmConfig, patch: ConfigPatch, opts: { sealedEnvCheck?: boolean } = {}): PlannedChange {
  const next: CvmConfig = { ...current, env_keys: [...current.env_keys] };
  const currentCompose = JSON.parse(current.app_compose) as Record<string, unknown>;
  let composeObj = currentCompose;
  if (patch.compose) {
    composeObj = nextCompose(currentCompose, patch.compose);
    const runner = (composeObj.runner as string | undefined) ?? 'docker-compose';
    const yaml = (composeObj.docker_compose_file as string | undefined) ?? '';
    if (runner === 'docker-compose') {
      if (!yaml.trim()) throw badRequest(ErrorCodes.COMPOSE_FILE_REQUIRED, 'docker_compose_file must not be empty: send your docker-compose.yml.');
      checkDockerCompose(yaml);
    }
    checkComposeSize(yaml, composeObj.pre_launch_script as string | undefined);
    next.app_compose = canonicalJson(composeObj);
    next.compose_hash = composeHashOf(next.app_compose);
  }
  if (patch.encrypted_env !== undefined) next.encrypted_env = normHex(patch.encrypted_env);
  const allowed = (composeObj.allowed_envs as string[] | undefined) ?? [];
  if (patch.env_keys !== undefined) next.env_keys = patch.env_keys === 'allowed_envs' ? [...allowed] : [...new Set(patch.env_keys)];
  if (patch.user_config !== undefined) {
    if (!patch.user_config && current.user_config) {
      throw badRequest(ErrorCodes.INVALID_REQUEST, 'dstack cannot empty a user_config (an empty one means "unchanged"): send "{}" instead.');
    }
    next.user_config = patch.user_config;
  }
  // sizes are checked where they move: a CVM kept on a size from before a limit existed can still change the rest
  const moving = (k: 'vcpu' | 'memory_mb' | 'disk_gb') => (patch[k] !== undefined && patch[k] !== current[k] ? patch[k] : undefined);
  checkResourceLimits({ vcpu: moving('vcpu'), memory_mb: moving('memory_mb'), disk_gb: moving('disk_gb') });
  if (patch.vcpu !== undefined) next.vcpu = patch.vcpu;
  if (patch.memory_mb !== undefined) next.memory_mb = patch.memory_mb;
  if (patch.disk_gb !== undefined) {
    if (patch.disk_gb < current.disk_gb) {
      throw badRequest(ErrorCodes.INCOMPATIBLE_CONFIG,
        `disk_size can only grow: the CVM has ${current.disk_gb} GB, ${patch.disk_gb} GB would shrink it. Send ${current.disk_gb} or more.`);
    }
    next.disk_gb = patch.disk_gb;
  }
  if (patch.image !== undefined) next.image = patch.image;
  if (patch.instance_type !== undefined) next.instance_type = patch.instance_type;
  if (patch.listed !== undefined) next.listed = patch.listed;
  if (patch.shutdown_timeout_s !== undefined) next.shutdown_timeout_s = patch.shutdown_timeout_s;
  if (patch.allow_force_stop !== undefined) next.allow_force_stop = patch.allow_force_stop;

  // the sealed env must not carry keys the compose no longer lets through: the app would boot without them
  if (next.encrypted_env && opts.sealedEnvCheck !== false) {
    const dropped = next.env_keys.filter((k) => !allowed.includes(k));
    if (dropped.length) {
      throw badRequest(ErrorCodes.INCOMPATIBLE_CONFIG,
        `The sealed env carries ${dropped.join(', ')}, which the new compose's allowed_envs (${allowed.join(', ') || 'empty'}) would drop, so the CVM would boot without ${dropped.length > 1 ? 'them' : 'it'}. Keep ${dropped.length > 1 ? 'them' : 'it'} in allowed_envs, or send a new encrypted_env with env_keys that leave ${dropped.length > 1 ? 'them' : 'it'} out.`,
        { details: dropped.map((k) => ({ field: 'allowed_envs', value: k, message: 'carried by the sealed env' })) });
    }
  }

  const changed = (Object.keys(next) as (keyof CvmConfig)[]).filter((k) => {
    const a = current[k];
    const b = next[k];
    return Array.isArray(a) && Array.isArray(b) ? !sameList(a, b) : a !== b;
  });
  const composeChanged = next.compose_hash !== current.compose_hash;
  return {
    next,
    changed,
    composeChanged,
    allowedEnvsChanged: !sameList((currentCompose.allowed_envs as string[] | undefined) ?? [], allowed),
    needsHost: changed.some((k) => !RECORD_ONLY.includes(k) && k !== 'env_keys'),
  };
}

/** What the host is sent (`UpdateVmRequest` of dstack's `vmm/rpc/proto/vmm_rpc.proto`) for a planned change: only what moves. */
export function hostUpdateOf(current: CvmConfig, next: CvmConfig): Record<string, unknown> {
  const u: Record<string, unknown> = {};
  if (next.app_compose !== current.app_compose) u.compose_file = next.app_compose;
  if (next.encrypted_env !== current.encrypted_env && next.encrypted_env) u.encrypted_env = next.encrypted_env;
  if (next.user_config !== current.user_config && next.user_config) u.user_config = next.user_config;
  if (next.vcpu !== current.vcpu) u.vcpu = next.vcpu;
  if (next.memory_mb !== current.memory_mb) u.memory = next.memory_mb;
  if (next.disk_gb !== current.disk_gb) u.disk_size = next.disk_gb;
  if (next.image !== current.image) u.image = next.image;
  return u;
}

/**
 * What a change that changes nothing answers: a repeated deploy of the same thing succeeds and does nothing
 * (no restart, no revision). A request that names no field at all is still refused by its endpoint.
 */
export function unchangedMessage(cvmName: string, composeHash: string): string {
  return `Nothing changed: CVM ${cvmName} already has this configuration (compose_hash ${composeHash}). Nothing was queued and it was not restarted.`;
}
