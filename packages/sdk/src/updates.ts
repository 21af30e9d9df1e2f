/**
 * The configuration-update flow: change a CVM's compose, env, resources, image or
 * visibility, in one step or two (prepare → commit), follow the operation to its end, list and roll back
 * revisions, and ask for a new instance id.
 *
 * Every change that reaches the host restarts the CVM: the server answers at once with a `correlation_id`
 * (`status: "in_progress"`) and applies it in the background; `waitForOperation` follows it. Changes that
 * need no host (`listed`, `shutdown_timeout`, `allow_force_stop`) answer `status: "applied"`; a change that
 * changes nothing (the same deploy again) answers `status: "unchanged"` and does nothing (the envs, compose
 * and pre-launch-script forms keep `in_progress` there, which the official SDK insists on).
 * Env values are sealed on this machine to the app's key (`envs` parameters); plaintext never leaves it.
 *
 * Every type here is the contract's: answers as the endpoint declares them, parameters as its request
 * schema takes them, plus what this SDK adds (the `id` of the CVM, `envs` sealed here, wait options).
 */
import * as api from '@opencvm/contract';
import { type preparedDetailFields, type CvmStatus, type kmsInfoSchema, type revisionSchema, type z } from '@opencvm/contract';
import { encryptEnv, validateEnvVars, type EnvVar } from '@opencvm/core';
import { callEndpoint, type AnswerOf, type BodyOf, type ParamsOf, type QueryOf } from './call.ts';
import { CvmWaitError, OpenCvmError, type ErrorDetail } from './errors.ts';
import type { Client } from './index.ts';

const DEFAULT_WAIT_MS = 10 * 60_000;
const DEFAULT_MAX_INTERVAL_MS = 2_000;
/** Statuses a CVM settles in when a boot failed or its host lost it. */
const FAILED = new Set(['exited', 'error']);

/** A CVM as `/cvms/{id}` names it: name, vm_uuid (with or without dashes), `app_<app_id>`, instance id, or numeric id. */
export type CvmId = string | number;

export type { CvmStatus };

/** `GET /cvms/{id}` in the 2026-01-21 shape (`getCvmDetail`, and what the waits resolve with). */
export type CvmDetail = AnswerOf<typeof api.getCvm, '2026-01-21'>;

/** A KMS as update answers describe it. */
export type KmsInfo = z.output<typeof kmsInfoSchema>;

/**
 * The answer to every change: queued (`in_progress`, the CVM restarts), recorded at once (`applied`), or
 * nothing to do (`unchanged`: the CVM already had this configuration; its operation has already succeeded).
 * `correlation_id` names the operation (pass it to `waitForOperation`), `compose_hash` is the one the CVM will
 * run, `allowed_envs_changed` says whether the compose's `allowed_envs` changed (and with it the hash).
 */
export type UpdateAccepted = AnswerOf<typeof api.patchCvm>;

type UnifiedPatch = BodyOf<typeof api.patchCvm>;

/**
 * The fields of `PATCH /cvms/{id}` but the sealed env (see `SealedEnvChange`). A field left out stays as it
 * is; `pre_launch_script: null` or `""` removes the script; `memory` is in MB, `disk_size` in GB and only
 * grows; `allowed_envs` must keep every key of the sealed env (else `ERR-02-009`); `image` is an OS image of
 * the CVM's node (`GET /cvms/{id}/available-os-images`); `listed`, `shutdown_timeout` and `allow_force_stop`
 * need no restart.
 */
export type CvmUpdateFields = Omit<UnifiedPatch, 'encrypted_env' | 'env_keys'>;

/**
 * A new sealed env, which REPLACES the current one as a whole (keys left out are gone), in one of two forms:
 * - `envs`: plaintext, sealed here to the app's key (read from the CVM); `env_keys` = their keys;
 * - `encrypted_env` (sealed by you) with optional `env_keys` (default: the compose's `allowed_envs`).
 * Leave all three out to keep the env as it is.
 */
export type SealedEnvChange =
  | { envs: EnvVar[]; encrypted_env?: never; env_keys?: never }
  | ({ envs?: never } & Required<Pick<UnifiedPatch, 'encrypted_env'>> & Pick<UnifiedPatch, 'env_keys'>)
  | { envs?: never; encrypted_env?: never; env_keys?: never };

export type UpdateCvmParams = { id: CvmId } & CvmUpdateFields & SealedEnvChange;

/** The detail fields of a prepare-only PATCH's 465 answer. */
type PreparedField = (typeof preparedDetailFields)[number];

/**
 * What a prepare-only PATCH returns (from its 465 answer's details): nothing has changed; `commitCvmUpdate`
 * with the one-time `commit_token` applies it before `expires_at` (ISO 8601). `compose_hash` is the hash the
 * change leads to; `commit_url` where the commit is POSTed (`commitCvmUpdate` does it).
 */
export type PreparedUpdate = Pick<ComposeUpdateProvision, 'compose_hash' | 'app_id' | 'device_id'> & {
  kms_info: KmsInfo;
  commit_token: string;
  expires_at: string;
  commit_url: string | null;
};

export type CommitCvmUpdateParams = { id: CvmId } & Pick<BodyOf<typeof api.commitCvmUpdate>, 'token' | 'compose_hash'>;

export interface UpdateCvmEnvsParams {
  id: CvmId;
  /** sealed here; they replace the env as a whole */
  envs: EnvVar[];
}

/**
 * The compose-file provision's body: a whole new app-compose (see `provisionComposeUpdate`). `name` defaults
 * to the current one; `allowed_envs` is taken only with `update_env_vars: true`. A provision needs a
 * `docker_compose_file` (the server refuses an empty one).
 */
export type ComposeFileFields = BodyOf<typeof api.provisionCvmComposeFileUpdate> & { docker_compose_file: string };

export type ProvisionComposeUpdateParams = { id: CvmId } & ComposeFileFields;

/**
 * `compose_hash` is the one `provisionComposeUpdate` returned; `kms_info` is null with the built-in (PHALA)
 * KMS: there is no hash to register on chain.
 */
export type ComposeUpdateProvision = AnswerOf<typeof api.provisionCvmComposeFileUpdate>;

export type CommitComposeUpdateParams = { id: CvmId } & Pick<BodyOf<typeof api.commitCvmComposeFile>, 'compose_hash'> & SealedEnvChange;

/**
 * `memory` in MB; `disk_size` in GB, only grows; `instance_type` sets vCPU and memory from the catalogue
 * (`GET /instance-types`; explicit vcpu/memory win); `allow_restart: false` refuses a change that would restart
 * a running CVM (`ERR-03-008`).
 */
export type UpdateResourcesParams = { id: CvmId } & BodyOf<typeof api.updateCvmResources>;

/**
 * One revision: `operation_type` says what made it (create, replicate, update, resources, compose_update,
 * env_update, rollback, …), `trace_id` is the correlation_id of that operation.
 */
export type Revision = z.output<typeof revisionSchema>;

/** A page of revisions, newest first. */
export type RevisionPage = AnswerOf<typeof api.getAppRevisions>;

export type ListRevisionsParams = ParamsOf<typeof api.getAppRevisions> & Partial<QueryOf<typeof api.getAppRevisions>>;

type RevisionComposeFile = AnswerOf<typeof api.getAppRevisionDetail>['compose_file'];

/**
 * A revision with what it deployed: the app-compose (parsed; with `raw_compose_file` the exact hashed text),
 * the sealed env (hex, "" if none) and the user config.
 */
export type RevisionDetail<Raw extends boolean = false> = Omit<AnswerOf<typeof api.getAppRevisionDetail>, 'compose_file'> & {
  compose_file: Raw extends true ? Extract<RevisionComposeFile, string> : Exclude<RevisionComposeFile, string>;
};

export type GetRevisionParams<Raw extends boolean = false> = ParamsOf<typeof api.getAppRevisionDetail> & { raw_compose_file?: Raw };

/** On the revision's CVM, or on `cvm_id` (a CVM of the same app). */
export type RollbackToRevisionParams = ParamsOf<typeof api.rollbackAppRevision> & NonNullable<BodyOf<typeof api.rollbackAppRevision>>;

/** A queued new instance id: `new_instance_id` is null until the CVM's next boot generates it. */
export type InstanceIdRefresh = AnswerOf<typeof api.refreshCvmInstanceIdNew>;

export interface WaitOptions {
  /** default 10 minutes */
  timeoutMs?: number;
  /** the longest pause between two reads (they start at 100 ms and double); default 2000 */
  intervalMs?: number;
}

/**
 * `correlation_id`: the operation to follow; `compose_hash`: the one it should leave the CVM on (an update's
 * answer carries both: `waitForOperation({ id, ...answer })`).
 */
export type WaitForOperationParams = { id: CvmId } & Pick<UpdateAccepted, 'correlation_id'> &
  Partial<Pick<UpdateAccepted, 'compose_hash'>> &
  WaitOptions;

export type WaitForStatusParams = { id: CvmId; status: CvmStatus } & WaitOptions;

const normHash = (h: string) => h.replace(/^0x/i, '').toLowerCase();

// ------------------------------------------------------------------ reads

/** `GET /cvms/{id}` in the 2026-01-21 shape (whatever version the client sends otherwise). */
export function getCvmDetail(client: Client, p: { id: CvmId }): Promise<CvmDetail> {
  return callEndpoint(client, api.getCvm, { params: { id: p.id }, version: '2026-01-21' });
}

// ------------------------------------------------------------------ the unified PATCH

/**
 * `PATCH /cvms/{id}`: any subset of the fields, applied as one change (one restart). With `envs`, the env
 * is sealed here to the app's key and REPLACES the sealed env as a whole; its keys must be within the
 * resulting `allowed_envs` (send `allowed_envs` too if they change), else `ERR-02-009`.
 * Follow the answer with `waitForOperation({ id, ...answer })`.
 */
export async function updateCvm(client: Client, p: UpdateCvmParams): Promise<UpdateAccepted> {
  return callEndpoint(client, api.patchCvm, { params: { id: p.id }, body: await patchBody(client, p) });
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
    applied = await callEndpoint(client, api.patchCvm, { params: { id: p.id }, body }, { headers: { 'x-prepare-only': 'true' } });
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
export function commitCvmUpdate(client: Client, p: CommitCvmUpdateParams): Promise<UpdateAccepted> {
  return callEndpoint(client, api.commitCvmUpdate, {
    params: { id: p.id },
    body: { token: p.token, ...(p.compose_hash ? { compose_hash: p.compose_hash } : {}) },
  });
}

/**
 * `PATCH /cvms/{id}/envs`: seal `envs` here to the app's key (read from the CVM) and send only the
 * ciphertext and the key names. This REPLACES the sealed env as a whole: keys not in `envs` are gone.
 * The compose's `allowed_envs` becomes exactly the keys of `envs` (if that changes it, the compose hash
 * moves too: `allowed_envs_changed`). The CVM restarts with the new env.
 */
export async function updateCvmEnvs(client: Client, p: UpdateCvmEnvsParams): Promise<UpdateAccepted> {
  const sealed = await sealFor(client, p.id, p.envs);
  return callEndpoint(client, api.updateCvmEnvs, { params: { id: p.id }, body: sealed });
}

// ------------------------------------------------------------------ two-phase compose update

/**
 * `POST /cvms/{id}/compose_file/provision`: validate and hash a whole new app-compose, kept 14 days.
 * Fields left out take their defaults (as at a first provision), not the CVM's current values; the
 * current `allowed_envs` are kept unless `update_env_vars` is set.
 */
export function provisionComposeUpdate(client: Client, p: ProvisionComposeUpdateParams): Promise<ComposeUpdateProvision> {
  const { id, ...body } = p;
  return callEndpoint(client, api.provisionCvmComposeFileUpdate, { params: { id }, body });
}

/**
 * `POST /cvms/{id}/compose_file/commit`: apply a provisioned compose (once), optionally with a new sealed env
 * (`envs` are sealed here), which replaces the current one as a whole.
 */
export async function commitComposeUpdate(client: Client, p: CommitComposeUpdateParams): Promise<UpdateAccepted> {
  const env = await envBody(client, p.id, p);
  return callEndpoint(client, api.commitCvmComposeFile, { params: { id: p.id }, body: { compose_hash: p.compose_hash, ...env } });
}

// ------------------------------------------------------------------ single-field forms

/** `PATCH /cvms/{id}/resources`: vCPU, memory (MB), disk (GB, grows only) or an instance type. */
export function updateResources(client: Client, p: UpdateResourcesParams): Promise<UpdateAccepted> {
  const { id, ...body } = p;
  return callEndpoint(client, api.updateCvmResources, { params: { id }, body });
}

// ------------------------------------------------------------------ revisions

/** `GET /apps/{app_id}/revisions`: every compose-hash change of the app (and each first deploy), newest first. */
export function listRevisions(client: Client, p: ListRevisionsParams): Promise<RevisionPage> {
  return callEndpoint(client, api.getAppRevisions, { params: { app_id: p.app_id }, query: { page: p.page, page_size: p.page_size } });
}

/** `GET /apps/{app_id}/revisions/{revision_id}`: one revision with its compose, sealed env and user config. */
export async function getRevision<Raw extends boolean = false>(client: Client, p: GetRevisionParams<Raw>): Promise<RevisionDetail<Raw>> {
  const detail = await callEndpoint(client, api.getAppRevisionDetail, {
    params: { app_id: p.app_id, revision_id: p.revision_id },
    query: { raw_compose_file: p.raw_compose_file || undefined },
  });
  // raw_compose_file decides which form compose_file takes
  return detail as RevisionDetail<Raw>;
}

/**
 * `POST /apps/{app_id}/revisions/{revision_id}/rollback`: redeploy the revision's compose, sealed env and
 * user config through the update path, on the revision's CVM or on `cvm_id` (a CVM of the same app).
 */
export function rollbackToRevision(client: Client, p: RollbackToRevisionParams): Promise<UpdateAccepted> {
  return callEndpoint(client, api.rollbackAppRevision, {
    params: { app_id: p.app_id, revision_id: p.revision_id },
    body: p.cvm_id != null ? { cvm_id: p.cvm_id } : {},
  });
}

// ------------------------------------------------------------------ instance id

/**
 * `POST /cvms/{id}/refresh-instance-id`: a NEW instance id. The VM is created again on its host (with a new
 * disk) and its boot generates the id; the old id stops naming the CVM at once, so follow it by name,
 * vm_uuid or the answer's `cvm_id`: `waitForOperation({ id: r.cvm_id, correlation_id: r.correlation_id })`.
 */
export function refreshInstanceId(client: Client, p: { id: CvmId }): Promise<InstanceIdRefresh> {
  return callEndpoint(client, api.refreshCvmInstanceIdNew, { params: { id: p.id } });
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
    bootError = (await callEndpoint(client, api.getCvmState, { params: { id: cvm.vm_uuid } })).boot_error;
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

async function patchBody(client: Client, p: UpdateCvmParams): Promise<UnifiedPatch> {
  const { id, envs: _envs, encrypted_env: _enc, env_keys: _keys, ...fields } = p;
  return { ...fields, ...(await envBody(client, id, p)) };
}

/** The `encrypted_env` / `env_keys` of a request: sealed here from `envs`, or as given. */
async function envBody(client: Client, id: CvmId, p: SealedEnvChange): Promise<Pick<UnifiedPatch, 'encrypted_env' | 'env_keys'>> {
  if (p.envs) return sealFor(client, id, p.envs);
  if (p.encrypted_env !== undefined) return { encrypted_env: p.encrypted_env, ...(p.env_keys ? { env_keys: p.env_keys } : {}) };
  if (p.env_keys) {
    throw new OpenCvmError('env_keys name the keys of a new sealed env: send encrypted_env (or envs) with them. Nothing was sent.', 0, null);
  }
  return {};
}

/** Check `envs` as the guest will, read the app's env key from the CVM, and seal them to it. */
async function sealFor(client: Client, id: CvmId, envs: EnvVar[]): Promise<Required<Pick<UnifiedPatch, 'encrypted_env' | 'env_keys'>>> {
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
  const str = (k: PreparedField) => (typeof v.get(k) === 'string' ? (v.get(k) as string) : null);
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
    kms_info: v.get('kms_info' satisfies PreparedField) as KmsInfo,
    commit_url: str('api_commit_url') ?? str('commit_url'),
  };
}
