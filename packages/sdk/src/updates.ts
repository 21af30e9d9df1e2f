/**
 * The configuration-update flow (seeds 003 and 004): change a CVM's compose, env, resources, image or
 * visibility, in one step or two (prepare → commit), follow the operation to its end, list and roll back
 * revisions, and ask for a new instance id.
 *
 * Every change that reaches the host restarts the CVM: the server answers at once with a `correlation_id`
 * (`status: "in_progress"`) and applies it in the background; `waitForOperation` follows it. Changes that
 * need no host (`listed`, `shutdown_timeout`, `allow_force_stop`) answer `status: "applied"`; a change that
 * changes nothing (the same deploy again) answers `status: "unchanged"` and does nothing (the envs, compose
 * and pre-launch-script forms keep `in_progress` there, which the official SDK insists on).
 * Env values are sealed on this machine to the app's key (`envs` parameters); plaintext never leaves it.
 */
import { encryptEnv, validateEnvVars, type AppCompose, type EnvVar } from '@opencvm/core';
import { CvmWaitError, OpenCvmError, type ErrorDetail } from './errors.ts';
import type { Client } from './index.ts';

/** The response shape these functions read, whatever version the client is configured with. */
const V2026 = { 'x-phala-version': '2026-01-21' } as const;
const DEFAULT_WAIT_MS = 10 * 60_000;
const DEFAULT_MAX_INTERVAL_MS = 2_000;
/** Statuses a CVM settles in when a boot failed or its host lost it. */
const FAILED = new Set(['exited', 'error']);

/** A CVM as `/cvms/{id}` names it: name, vm_uuid (with or without dashes), `app_<app_id>`, instance id, or numeric id. */
export type CvmId = string | number;

export type CvmStatus =
  | 'starting'
  | 'running'
  | 'stopping'
  | 'stopped'
  | 'restarting'
  | 'updating'
  | 'deleting'
  | 'exited'
  | 'error'
  | (string & {});

/** `GET /cvms/{id}` in the 2026-01-21 shape (the keys this SDK relies on; the rest is passed through). */
export interface CvmDetail {
  [key: string]: unknown;
  /** the vm_uuid */
  id: string;
  name: string;
  status: CvmStatus;
  app_id: string;
  vm_uuid: string;
  instance_id: string | null;
  compose_hash: string;
  resource: { instance_type: string | null; vcpu: number; memory_in_gb: number; disk_in_gb: number; gpus: number };
  os: { name: string; version: string | null; is_dev: boolean; os_image_hash: string | null };
  kms_type: string;
  kms_info: {
    chain_id: number | null;
    dstack_kms_address: string | null;
    dstack_app_address: string | null;
    deployer_address: string | null;
    rpc_endpoint: string | null;
    /** the app's X25519 key: env is sealed to it */
    encrypted_env_pubkey: string | null;
  };
  /** the operation under way, or null when none is */
  progress: { target: string; started_at: string; correlation_id: string } | null;
  public_logs: boolean;
  public_sysinfo: boolean;
  public_tcbinfo: boolean;
  gateway_enabled: boolean;
  listed: boolean;
  /** the app-compose as deployed */
  compose_file?: AppCompose;
}

/** A KMS as update answers describe it. */
export interface KmsInfo {
  id: string;
  slug: string | null;
  url: string;
  version: string;
  chain_id: number | null;
  kms_contract_address: string | null;
  gateway_app_id: string | null;
}

/**
 * The answer to every change: queued (`in_progress`, the CVM restarts), recorded at once (`applied`), or
 * nothing to do (`unchanged`: the CVM already had this configuration; its operation has already succeeded).
 */
export interface UpdateAccepted {
  status: 'in_progress' | 'applied' | 'unchanged';
  /** the operation: pass it to `waitForOperation` */
  correlation_id: string;
  /** the compose hash the CVM will run */
  compose_hash: string;
  /** whether the compose's `allowed_envs` changed (and with it the compose hash) */
  allowed_envs_changed: boolean;
  message: string;
}

/** The fields of `PATCH /cvms/{id}` (seed 004). A field left out stays as it is. */
export interface CvmUpdateFields {
  docker_compose_file?: string;
  /** `null` or `""` removes the script */
  pre_launch_script?: string | null;
  /** the env keys the guest lets through; keys of the sealed env must stay in it (else `ERR-02-009`) */
  allowed_envs?: string[];
  public_logs?: boolean;
  public_sysinfo?: boolean;
  public_tcbinfo?: boolean;
  /** opaque to the server; dstack cannot empty it (send `"{}"`) */
  user_config?: string;
  vcpu?: number;
  /** MB */
  memory?: number;
  /** GB; only grows (a smaller value is `ERR-02-009`) */
  disk_size?: number;
  /** an OS image on the CVM's node (`GET /cvms/{id}/available-os-images`) */
  image?: string;
  /** seconds a graceful stop may take before it becomes a forced one (0–3600); no restart */
  shutdown_timeout?: number;
  /** no restart */
  allow_force_stop?: boolean;
  /** no restart */
  listed?: boolean;
}

/**
 * A new sealed env, which REPLACES the current one as a whole (keys left out are gone), in one of two forms:
 * - `envs`: plaintext, sealed here to the app's key (read from the CVM); `env_keys` = their keys;
 * - `encrypted_env` (sealed by you) with optional `env_keys` (default: the compose's `allowed_envs`).
 * Leave all three out to keep the env as it is.
 */
export type SealedEnvChange =
  | { envs: EnvVar[]; encrypted_env?: never; env_keys?: never }
  | { encrypted_env: string; env_keys?: string[]; envs?: never }
  | { envs?: never; encrypted_env?: never; env_keys?: never };

export type UpdateCvmParams = { id: CvmId } & CvmUpdateFields & SealedEnvChange;

/** What a prepare-only PATCH returns: nothing has changed; `commitCvmUpdate` with the token applies it. */
export interface PreparedUpdate {
  /** the compose hash the change leads to */
  compose_hash: string;
  /** one-time token for `commitCvmUpdate` */
  commit_token: string;
  /** ISO 8601; the token is refused afterwards */
  expires_at: string;
  app_id: string;
  device_id: string;
  kms_info: KmsInfo;
  /** where the commit is POSTed (`commitCvmUpdate` does it) */
  commit_url: string | null;
}

/** Seed 003's compose-file provision: a whole new app-compose (see `provisionComposeUpdate`). */
export interface ComposeFileFields {
  docker_compose_file: string;
  /** the app name in the compose; default: the current one */
  name?: string;
  /** taken only with `update_env_vars: true`; otherwise the current `allowed_envs` are kept */
  allowed_envs?: string[];
  /** let `allowed_envs` change */
  update_env_vars?: boolean;
  pre_launch_script?: string;
  public_logs?: boolean;
  public_sysinfo?: boolean;
  public_tcbinfo?: boolean;
  gateway_enabled?: boolean;
  kms_enabled?: boolean;
  secure_time?: boolean;
  no_instance_id?: boolean;
  storage_fs?: 'ext4' | 'zfs';
  features?: string[];
  salt?: string;
}

export interface ComposeUpdateProvision {
  app_id: string;
  device_id: string;
  /** pass it to `commitComposeUpdate` */
  compose_hash: string;
  /** null with the built-in (PHALA) KMS: there is no hash to register on chain */
  kms_info: KmsInfo | null;
  compose_hash_registered: boolean;
}

export interface UpdateResourcesParams {
  id: CvmId;
  vcpu?: number;
  /** MB */
  memory?: number;
  /** GB; only grows */
  disk_size?: number;
  /** sets vCPU and memory from the catalogue (`GET /instance-types`); explicit vcpu/memory win */
  instance_type?: string;
  /** `false` refuses a change that would restart a running CVM (`ERR-03-008`); default true */
  allow_restart?: boolean;
}

export interface Revision {
  revision_id: string;
  app_id: string;
  vm_uuid: string;
  compose_hash: string;
  created_at: string;
  /** create | replicate | update | resources | compose_update | env_update | rollback | … */
  operation_type: string;
  /** the correlation_id of the operation that made it */
  trace_id: string | null;
  triggered_by: { object_type: 'user'; id: string; username: string | null; avatar_url: string | null } | null;
  cvm: { object_type: 'cvm'; id: string; name: string; app_id: string; vm_uuid: string };
  workspace: { object_type: 'workspace'; id: string; name: string; slug: string; avatar_url: string | null };
}

export interface RevisionPage {
  /** newest first */
  revisions: Revision[];
  total: number;
  page: number;
  page_size: number;
  total_pages: number;
}

export type RevisionDetail<Raw extends boolean = false> = Revision & {
  /** the app-compose; with `raw_compose_file` the exact hashed text */
  compose_file: Raw extends true ? string : AppCompose;
  /** the sealed env (hex), "" if none */
  encrypted_env: string;
  user_config: string;
};

export interface GetRevisionParams<Raw extends boolean = false> {
  app_id: string;
  revision_id: string;
  raw_compose_file?: Raw;
}

export interface InstanceIdRefresh {
  cvm_id: number;
  identifier: string;
  status: 'updated' | 'unchanged' | 'skipped' | 'conflict' | 'error';
  old_instance_id: string | null;
  /** null until the CVM's next boot generates it */
  new_instance_id: string | null;
  source: string;
  verified_with_gateway: boolean;
  reason: string | null;
  correlation_id: string;
}

export interface WaitOptions {
  /** default 10 minutes */
  timeoutMs?: number;
  /** the longest pause between two reads (they start at 100 ms and double); default 2000 */
  intervalMs?: number;
}

export interface WaitForOperationParams extends WaitOptions {
  id: CvmId;
  correlation_id: string;
  /** the compose hash the operation should leave the CVM on (an update's answer carries it) */
  compose_hash?: string;
}

export interface WaitForStatusParams extends WaitOptions {
  id: CvmId;
  status: CvmStatus;
}

const cvmPath = (id: CvmId, suffix = '') => `/cvms/${encodeURIComponent(String(id))}${suffix}`;
const appPath = (appId: string, suffix = '') => `/apps/${encodeURIComponent(appId)}${suffix}`;
const normHash = (h: string) => h.replace(/^0x/i, '').toLowerCase();

// ------------------------------------------------------------------ reads

/** `GET /cvms/{id}` in the 2026-01-21 shape (whatever version the client sends otherwise). */
export function getCvmDetail(client: Client, p: { id: CvmId }): Promise<CvmDetail> {
  return client.request<CvmDetail>('GET', cvmPath(p.id), undefined, { headers: V2026 });
}

// ------------------------------------------------------------------ the unified PATCH (seed 004)

/**
 * `PATCH /cvms/{id}`: any subset of the fields, applied as one change (one restart). With `envs`, the env
 * is sealed here to the app's key and REPLACES the sealed env as a whole; its keys must be within the
 * resulting `allowed_envs` (send `allowed_envs` too if they change), else `ERR-02-009`.
 * Follow the answer with `waitForOperation({ id, ...answer })`.
 */
export async function updateCvm(client: Client, p: UpdateCvmParams): Promise<UpdateAccepted> {
  return client.request<UpdateAccepted>('PATCH', cvmPath(p.id), await patchBody(client, p));
}

/**
 * `PATCH /cvms/{id}` with `X-Prepare-Only: true`: the change is validated and kept, nothing moves. The
 * server answers HTTP 465 with the details; this returns them as a result. `commitCvmUpdate` with the
 * `commit_token` applies the change, once, before `expires_at`, while the CVM is still on the compose it
 * was prepared on.
 */
export async function prepareCvmUpdate(client: Client, p: UpdateCvmParams): Promise<PreparedUpdate> {
  const body = await patchBody(client, p);
  let applied: UpdateAccepted;
  try {
    applied = await client.request<UpdateAccepted>('PATCH', cvmPath(p.id), body, { headers: { 'x-prepare-only': 'true' } });
  } catch (e) {
    if (e instanceof OpenCvmError && e.status === 465) return preparedFrom(e);
    throw e;
  }
  throw new OpenCvmError(
    `The server applied the change instead of preparing it (it ignored X-Prepare-Only): operation ${applied?.correlation_id} is ${applied?.status}.`,
    0,
    null,
  );
}

/** `POST /cvms/{id}/commit-update`: apply a prepared change. A token works once (`ERR-01-009` afterwards). */
export function commitCvmUpdate(client: Client, p: { id: CvmId; token: string; compose_hash?: string }): Promise<UpdateAccepted> {
  return client.request<UpdateAccepted>('POST', cvmPath(p.id, '/commit-update'), {
    token: p.token,
    ...(p.compose_hash ? { compose_hash: p.compose_hash } : {}),
  });
}

/**
 * `PATCH /cvms/{id}/envs`: seal `envs` here to the app's key (read from the CVM) and send only the
 * ciphertext and the key names. This REPLACES the sealed env as a whole: keys not in `envs` are gone.
 * The compose's `allowed_envs` becomes exactly the keys of `envs` (if that changes it, the compose hash
 * moves too: `allowed_envs_changed`). The CVM restarts with the new env.
 */
export async function updateCvmEnvs(client: Client, p: { id: CvmId; envs: EnvVar[] }): Promise<UpdateAccepted> {
  const sealed = await sealFor(client, p.id, p.envs);
  return client.request<UpdateAccepted>('PATCH', cvmPath(p.id, '/envs'), sealed);
}

// ------------------------------------------------------------------ two-phase compose update (seed 003)

/**
 * `POST /cvms/{id}/compose_file/provision`: validate and hash a whole new app-compose, kept 14 days.
 * Fields left out take their defaults (as at a first provision), not the CVM's current values; the
 * current `allowed_envs` are kept unless `update_env_vars` is set.
 */
export function provisionComposeUpdate(client: Client, p: { id: CvmId } & ComposeFileFields): Promise<ComposeUpdateProvision> {
  const { id, ...body } = p;
  return client.request<ComposeUpdateProvision>('POST', cvmPath(id, '/compose_file/provision'), body);
}

/**
 * `POST /cvms/{id}/compose_file/commit`: apply a provisioned compose (once), optionally with a new sealed env
 * (`envs` are sealed here), which replaces the current one as a whole.
 */
export async function commitComposeUpdate(client: Client, p: { id: CvmId; compose_hash: string } & SealedEnvChange): Promise<UpdateAccepted> {
  const env = await envBody(client, p.id, p);
  return client.request<UpdateAccepted>('POST', cvmPath(p.id, '/compose_file/commit'), { compose_hash: p.compose_hash, ...env });
}

// ------------------------------------------------------------------ single-field forms

/** `PATCH /cvms/{id}/resources`: vCPU, memory (MB), disk (GB, grows only) or an instance type. */
export function updateResources(client: Client, p: UpdateResourcesParams): Promise<UpdateAccepted> {
  const { id, ...body } = p;
  return client.request<UpdateAccepted>('PATCH', cvmPath(id, '/resources'), body);
}

// ------------------------------------------------------------------ revisions

/** `GET /apps/{app_id}/revisions`: every compose-hash change of the app (and each first deploy), newest first. */
export function listRevisions(client: Client, p: { app_id: string; page?: number; page_size?: number }): Promise<RevisionPage> {
  const q = new URLSearchParams();
  if (p.page != null) q.set('page', String(p.page));
  if (p.page_size != null) q.set('page_size', String(p.page_size));
  const qs = q.toString() ? `?${q}` : '';
  return client.request<RevisionPage>('GET', appPath(p.app_id, `/revisions${qs}`));
}

/** `GET /apps/{app_id}/revisions/{revision_id}`: one revision with its compose, sealed env and user config. */
export function getRevision<Raw extends boolean = false>(client: Client, p: GetRevisionParams<Raw>): Promise<RevisionDetail<Raw>> {
  const qs = p.raw_compose_file ? '?raw_compose_file=true' : '';
  return client.request<RevisionDetail<Raw>>('GET', appPath(p.app_id, `/revisions/${encodeURIComponent(p.revision_id)}${qs}`));
}

/**
 * `POST /apps/{app_id}/revisions/{revision_id}/rollback`: redeploy the revision's compose, sealed env and
 * user config through the update path, on the revision's CVM or on `cvm_id` (a CVM of the same app).
 */
export function rollbackToRevision(client: Client, p: { app_id: string; revision_id: string; cvm_id?: CvmId }): Promise<UpdateAccepted> {
  return client.request<UpdateAccepted>(
    'POST',
    appPath(p.app_id, `/revisions/${encodeURIComponent(p.revision_id)}/rollback`),
    p.cvm_id != null ? { cvm_id: p.cvm_id } : {},
  );
}

// ------------------------------------------------------------------ instance id

/**
 * `POST /cvms/{id}/refresh-instance-id`: a NEW instance id. The VM is created again on its host (with a new
 * disk) and its boot generates the id; the old id stops naming the CVM at once, so follow it by name,
 * vm_uuid or the answer's `cvm_id`: `waitForOperation({ id: r.cvm_id, correlation_id: r.correlation_id })`.
 */
export function refreshInstanceId(client: Client, p: { id: CvmId }): Promise<InstanceIdRefresh> {
  return client.request<InstanceIdRefresh>('POST', cvmPath(p.id, '/refresh-instance-id'));
}

// ------------------------------------------------------------------ waiting

/**
 * Poll `GET /cvms/{id}` until the operation `correlation_id` is no longer under way, and check how it ended.
 * Resolves with the CVM; rejects with a `CvmWaitError` if the CVM settled in `exited`/`error` (`failed`,
 * with the host's boot error), is not on `compose_hash` or not in the status the operation was heading for
 * (`not_applied`: the host refused the change and the CVM went back to its previous configuration), or on
 * timeout. An operation that already ended (or an `applied` or `unchanged` answer) resolves on the first read.
 */
export async function waitForOperation(client: Client, p: WaitForOperationParams): Promise<CvmDetail> {
  let target: string | null = null;
  return poll(client, p, `operation ${p.correlation_id}`, async (cvm) => {
    if (cvm.progress?.correlation_id === p.correlation_id) {
      target = cvm.progress.target;
      return null;
    }
    // ours ended and another operation has started since: what the CVM shows now is that one's doing
    if (cvm.progress) return cvm;
    if (FAILED.has(cvm.status)) throw await failed(client, cvm, `operation ${p.correlation_id}`);
    if (p.compose_hash && normHash(cvm.compose_hash) !== normHash(p.compose_hash)) {
      throw new CvmWaitError(
        `Operation ${p.correlation_id} ended, but CVM ${cvm.name} runs compose_hash ${cvm.compose_hash}, not ${normHash(p.compose_hash)}: the change was not applied (the host refused it and the CVM went back to its previous configuration).`,
        'not_applied',
        cvm,
      );
    }
    if (target && cvm.status !== target) {
      throw new CvmWaitError(
        `Operation ${p.correlation_id} ended with CVM ${cvm.name} ${cvm.status}, not ${target}: it did not complete.`,
        'not_applied',
        cvm,
      );
    }
    return cvm;
  });
}

/**
 * Poll `GET /cvms/{id}` until the CVM shows `status` with no operation under way. Rejects with a
 * `CvmWaitError` if it settles in `exited` or `error` instead (unless that is the status asked for), or on timeout.
 */
export async function waitForStatus(client: Client, p: WaitForStatusParams): Promise<CvmDetail> {
  return poll(client, p, `status ${p.status}`, async (cvm) => {
    if (cvm.progress) return null;
    if (cvm.status === p.status) return cvm;
    if (FAILED.has(cvm.status)) throw await failed(client, cvm, `status ${p.status}`);
    return null;
  });
}

async function poll(
  client: Client,
  p: { id: CvmId } & WaitOptions,
  what: string,
  check: (cvm: CvmDetail) => Promise<CvmDetail | null>,
): Promise<CvmDetail> {
  const timeoutMs = p.timeoutMs ?? DEFAULT_WAIT_MS;
  const maxInterval = Math.max(1, p.intervalMs ?? DEFAULT_MAX_INTERVAL_MS);
  const deadline = Date.now() + timeoutMs;
  let interval = Math.min(100, maxInterval);
  for (;;) {
    const cvm = await getCvmDetail(client, { id: p.id });
    const done = await check(cvm);
    if (done) return done;
    const left = deadline - Date.now();
    if (left <= 0) {
      const doing = cvm.progress ? `operation ${cvm.progress.correlation_id} under way towards ${cvm.progress.target}` : 'no operation under way';
      throw new CvmWaitError(`Waited ${timeoutMs} ms for ${what} of CVM ${cvm.name}; it is ${cvm.status} (${doing}).`, 'timeout', cvm);
    }
    await new Promise((r) => setTimeout(r, Math.min(interval, left)));
    interval = Math.min(interval * 2, maxInterval);
  }
}

async function failed(client: Client, cvm: CvmDetail, what: string): Promise<CvmWaitError> {
  let bootError: string | undefined;
  try {
    bootError = (await client.request<{ boot_error?: string }>('GET', cvmPath(cvm.vm_uuid, '/state'))).boot_error;
  } catch {
    /* the status alone still says it failed */
  }
  return new CvmWaitError(
    `CVM ${cvm.name} is ${cvm.status}${bootError ? ` (boot error: ${bootError})` : ''}, waiting for ${what}.`,
    'failed',
    cvm,
  );
}

// ------------------------------------------------------------------ sealing and bodies

async function patchBody(client: Client, p: UpdateCvmParams): Promise<Record<string, unknown>> {
  const { id, envs: _envs, encrypted_env: _enc, env_keys: _keys, ...fields } = p;
  return { ...fields, ...(await envBody(client, id, p)) };
}

/** The `encrypted_env` / `env_keys` of a request: sealed here from `envs`, or as given. */
async function envBody(client: Client, id: CvmId, p: SealedEnvChange): Promise<{ encrypted_env?: string; env_keys?: string[] }> {
  if (p.envs) return sealFor(client, id, p.envs);
  if (p.encrypted_env !== undefined) return { encrypted_env: p.encrypted_env, ...(p.env_keys ? { env_keys: p.env_keys } : {}) };
  if (p.env_keys) {
    throw new OpenCvmError('env_keys name the keys of a new sealed env: send encrypted_env (or envs) with them. Nothing was sent.', 0, null);
  }
  return {};
}

/** Check `envs` as the guest will, read the app's env key from the CVM, and seal them to it. */
async function sealFor(client: Client, id: CvmId, envs: EnvVar[]): Promise<{ encrypted_env: string; env_keys: string[] }> {
  const keys = envs.map((e) => e.key);
  const twice = keys.filter((k, i) => keys.indexOf(k) !== i);
  if (twice.length) throw new OpenCvmError(`env key(s) ${[...new Set(twice)].join(', ')} appear more than once: send each key once. Nothing was sent.`, 0, null);
  const invalid = validateEnvVars(envs);
  if (invalid) throw new OpenCvmError(`The guest would refuse this env and the CVM would not boot: ${invalid}. Nothing was sent.`, 0, null);
  const cvm = await getCvmDetail(client, { id });
  const pubkey = cvm.kms_info?.encrypted_env_pubkey;
  if (!pubkey) {
    throw new OpenCvmError(`CVM ${cvm.name} has no env encryption key (kms_info.encrypted_env_pubkey): its app has no KMS-sealed env. Nothing was sent.`, 0, null);
  }
  return { encrypted_env: encryptEnv(envs, pubkey), env_keys: keys };
}

/** The 465 answer of a prepare-only PATCH → its details as a result. */
function preparedFrom(e: OpenCvmError): PreparedUpdate {
  const v = new Map<string, unknown>(e.details.filter((d: ErrorDetail) => d.field).map((d) => [d.field!, d.value]));
  const str = (k: string) => (typeof v.get(k) === 'string' ? (v.get(k) as string) : null);
  const compose_hash = str('compose_hash');
  const commit_token = str('commit_token');
  if (!compose_hash || !commit_token) {
    throw new OpenCvmError(`The server answered 465 without a compose_hash and commit_token to commit with: ${e.message}`, e.status, e.code, e.details, e.suggestions);
  }
  return {
    compose_hash,
    commit_token,
    expires_at: str('expires_at') ?? '',
    app_id: str('app_id') ?? '',
    device_id: str('device_id') ?? '',
    kms_info: v.get('kms_info') as KmsInfo,
    commit_url: str('api_commit_url') ?? str('commit_url'),
  };
}
