/**
 * @opencvm/sdk — the TypeScript client of opencvm (and of any Phala-Cloud-compatible API).
 * It covers the two-phase deploy (provision, seal the env, commit, read the CVM) and the configuration
 * updates (`updates.ts`: the unified PATCH and its prepare/commit form, envs, compose-file provision/commit,
 * resources, revisions and rollback, a new instance id, and waiting for an operation to end).
 * Actions are standalone functions `fn(client, params)`, also bound as `client.fn(params)`, each with
 * a `safe*` twin that returns `{success, data | error}` instead of throwing.
 * Paths and types come from `@opencvm/contract`, where every endpoint is declared once.
 */
import * as api from '@opencvm/contract';
import { DEFAULT_API_VERSION, type ApiVersion, type DefaultApiVersion, type KmsType } from '@opencvm/contract';
import { encryptEnv, type EnvVar } from '@opencvm/core';
import { callEndpoint, type AnswerOf, type BodyOf } from './call.ts';
import { safe, toError, type SafeResult } from './errors.ts';
import {
  commitComposeUpdate,
  commitCvmUpdate,
  getCvmDetail,
  getRevision,
  listRevisions,
  prepareCvmUpdate,
  provisionComposeUpdate,
  refreshInstanceId,
  rollbackToRevision,
  updateCvm,
  updateCvmEnvs,
  updateResources,
  waitForOperation,
  waitForStatus,
  type CommitComposeUpdateParams,
  type CommitCvmUpdateParams,
  type ComposeUpdateProvision,
  type CvmDetail,
  type CvmId,
  type GetRevisionParams,
  type InstanceIdRefresh,
  type ListRevisionsParams,
  type PreparedUpdate,
  type ProvisionComposeUpdateParams,
  type RevisionDetail,
  type RevisionPage,
  type RollbackToRevisionParams,
  type UpdateAccepted,
  type UpdateCvmEnvsParams,
  type UpdateCvmParams,
  type UpdateResourcesParams,
  type WaitForOperationParams,
  type WaitForStatusParams,
} from './updates.ts';

export type { ApiVersion, DefaultApiVersion, EnvVar };
export { CvmWaitError, OpenCvmError, type ErrorDetail, type SafeResult } from './errors.ts';
export * from './updates.ts';
export * from './attestation.ts';

export interface ClientConfig {
  /** API prefix including /api/v1; default $PHALA_CLOUD_API_PREFIX or http://127.0.0.1:8000/api/v1 */
  baseURL?: string;
  /** default $PHALA_CLOUD_API_KEY */
  apiKey?: string;
  /** the `X-Phala-Version` sent; it decides the shape `getCvmInfo` answers with. Default 2026-01-21 */
  version?: ApiVersion;
  timeoutMs?: number;
}

/** Per-request options of `client.request`. */
export interface RequestOptions {
  /** extra headers (they win over the client's own, e.g. `x-phala-version`) */
  headers?: Record<string, string>;
}

/** A client whose requests ask for API version `V` (the SDK's own actions take a client of any version). */
export interface Client<V extends ApiVersion = ApiVersion> {
  readonly config: Required<Omit<ClientConfig, 'apiKey' | 'version'>> & { apiKey?: string; version: V };
  request<T>(method: string, path: string, body?: unknown, opts?: RequestOptions): Promise<T>;
  // deploy
  provisionCvm(p: ProvisionCvmParams): Promise<ProvisionCvmResult>;
  safeProvisionCvm(p: ProvisionCvmParams): Promise<SafeResult<ProvisionCvmResult>>;
  commitCvmProvision(p: CommitCvmProvisionParams): Promise<CvmVm>;
  safeCommitCvmProvision(p: CommitCvmProvisionParams): Promise<SafeResult<CvmVm>>;
  getCvmInfo(p: { id: CvmId }): Promise<CvmInfo<V>>;
  getCvmDetail(p: { id: CvmId }): Promise<CvmDetail>;
  safeGetCvmDetail(p: { id: CvmId }): Promise<SafeResult<CvmDetail>>;
  // configuration updates (updates.ts)
  updateCvm(p: UpdateCvmParams): Promise<UpdateAccepted>;
  safeUpdateCvm(p: UpdateCvmParams): Promise<SafeResult<UpdateAccepted>>;
  prepareCvmUpdate(p: UpdateCvmParams): Promise<PreparedUpdate>;
  safePrepareCvmUpdate(p: UpdateCvmParams): Promise<SafeResult<PreparedUpdate>>;
  commitCvmUpdate(p: CommitCvmUpdateParams): Promise<UpdateAccepted>;
  safeCommitCvmUpdate(p: CommitCvmUpdateParams): Promise<SafeResult<UpdateAccepted>>;
  updateCvmEnvs(p: UpdateCvmEnvsParams): Promise<UpdateAccepted>;
  safeUpdateCvmEnvs(p: UpdateCvmEnvsParams): Promise<SafeResult<UpdateAccepted>>;
  provisionComposeUpdate(p: ProvisionComposeUpdateParams): Promise<ComposeUpdateProvision>;
  safeProvisionComposeUpdate(p: ProvisionComposeUpdateParams): Promise<SafeResult<ComposeUpdateProvision>>;
  commitComposeUpdate(p: CommitComposeUpdateParams): Promise<UpdateAccepted>;
  safeCommitComposeUpdate(p: CommitComposeUpdateParams): Promise<SafeResult<UpdateAccepted>>;
  updateResources(p: UpdateResourcesParams): Promise<UpdateAccepted>;
  safeUpdateResources(p: UpdateResourcesParams): Promise<SafeResult<UpdateAccepted>>;
  listRevisions(p: ListRevisionsParams): Promise<RevisionPage>;
  safeListRevisions(p: ListRevisionsParams): Promise<SafeResult<RevisionPage>>;
  getRevision<Raw extends boolean = false>(p: GetRevisionParams<Raw>): Promise<RevisionDetail<Raw>>;
  safeGetRevision<Raw extends boolean = false>(p: GetRevisionParams<Raw>): Promise<SafeResult<RevisionDetail<Raw>>>;
  rollbackToRevision(p: RollbackToRevisionParams): Promise<UpdateAccepted>;
  safeRollbackToRevision(p: RollbackToRevisionParams): Promise<SafeResult<UpdateAccepted>>;
  refreshInstanceId(p: { id: CvmId }): Promise<InstanceIdRefresh>;
  safeRefreshInstanceId(p: { id: CvmId }): Promise<SafeResult<InstanceIdRefresh>>;
  waitForOperation(p: WaitForOperationParams): Promise<CvmDetail>;
  safeWaitForOperation(p: WaitForOperationParams): Promise<SafeResult<CvmDetail>>;
  waitForStatus(p: WaitForStatusParams): Promise<CvmDetail>;
  safeWaitForStatus(p: WaitForStatusParams): Promise<SafeResult<CvmDetail>>;
}

/**
 * `POST /cvms/provision`'s body (Phala Cloud's `ProvisionDstackAppRequestV2`). `node_id` is sent as
 * `teepod_id`; without `instance_type`, `vcpu` or `memory` the SDK asks for `tdx.small`. `kms` names the
 * KMS type in capitals.
 */
export type ProvisionCvmParams = Omit<BodyOf<typeof api.provisionCvm>, 'kms'> & { kms?: Uppercase<KmsType> | null };

/** The app's measured identity: `compose_hash`, and with the PHALA KMS `app_id` and `app_env_encrypt_pubkey`. */
export type ProvisionCvmResult = AnswerOf<typeof api.provisionCvm>;

/** `POST /cvms`'s body: the `app_id` and `compose_hash` provision returned, and the env sealed to its key. */
export type CommitCvmProvisionParams = BodyOf<typeof api.commitCvmProvision>;

/** The CVM a commit created, `starting`. */
export type CvmVm = AnswerOf<typeof api.commitCvmProvision>;

/** `GET /cvms/{id}` in the shape of API version `V` (`getCvmInfo` asks for the client's). */
export type CvmInfo<V extends ApiVersion = DefaultApiVersion> = AnswerOf<typeof api.getCvm, V>;

export function createClient<V extends ApiVersion>(config: ClientConfig & { version: V }): Client<V>;
export function createClient(config?: ClientConfig): Client<DefaultApiVersion>;
export function createClient(config: ClientConfig = {}): Client {
  const cfg = {
    baseURL: (config.baseURL ?? process.env.PHALA_CLOUD_API_PREFIX ?? 'http://127.0.0.1:8000/api/v1').replace(/\/$/, ''),
    apiKey: config.apiKey ?? process.env.PHALA_CLOUD_API_KEY,
    version: config.version ?? DEFAULT_API_VERSION,
    timeoutMs: config.timeoutMs ?? 30_000,
  };
  const client: Client = {
    config: cfg,
    async request<T>(method: string, path: string, body?: unknown, opts: RequestOptions = {}): Promise<T> {
      const res = await fetch(`${cfg.baseURL}${path}`, {
        method,
        headers: {
          'x-phala-version': cfg.version,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(cfg.apiKey ? { 'x-api-key': cfg.apiKey } : {}),
          ...opts.headers,
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(cfg.timeoutMs),
      });
      const text = await res.text();
      const data = text ? safeJson(text) : undefined;
      if (!res.ok) throw toError(res.status, data, text);
      return data as T;
    },
    provisionCvm: (p) => provisionCvm(client, p),
    safeProvisionCvm: (p) => safe(provisionCvm(client, p)),
    commitCvmProvision: (p) => commitCvmProvision(client, p),
    safeCommitCvmProvision: (p) => safe(commitCvmProvision(client, p)),
    getCvmInfo: (p) => getCvmInfo(client, p),
    getCvmDetail: (p) => getCvmDetail(client, p),
    safeGetCvmDetail: (p) => safe(getCvmDetail(client, p)),
    updateCvm: (p) => updateCvm(client, p),
    safeUpdateCvm: (p) => safe(updateCvm(client, p)),
    prepareCvmUpdate: (p) => prepareCvmUpdate(client, p),
    safePrepareCvmUpdate: (p) => safe(prepareCvmUpdate(client, p)),
    commitCvmUpdate: (p) => commitCvmUpdate(client, p),
    safeCommitCvmUpdate: (p) => safe(commitCvmUpdate(client, p)),
    updateCvmEnvs: (p) => updateCvmEnvs(client, p),
    safeUpdateCvmEnvs: (p) => safe(updateCvmEnvs(client, p)),
    provisionComposeUpdate: (p) => provisionComposeUpdate(client, p),
    safeProvisionComposeUpdate: (p) => safe(provisionComposeUpdate(client, p)),
    commitComposeUpdate: (p) => commitComposeUpdate(client, p),
    safeCommitComposeUpdate: (p) => safe(commitComposeUpdate(client, p)),
    updateResources: (p) => updateResources(client, p),
    safeUpdateResources: (p) => safe(updateResources(client, p)),
    listRevisions: (p) => listRevisions(client, p),
    safeListRevisions: (p) => safe(listRevisions(client, p)),
    getRevision: (p) => getRevision(client, p),
    safeGetRevision: (p) => safe(getRevision(client, p)),
    rollbackToRevision: (p) => rollbackToRevision(client, p),
    safeRollbackToRevision: (p) => safe(rollbackToRevision(client, p)),
    refreshInstanceId: (p) => refreshInstanceId(client, p),
    safeRefreshInstanceId: (p) => safe(refreshInstanceId(client, p)),
    waitForOperation: (p) => waitForOperation(client, p),
    safeWaitForOperation: (p) => safe(waitForOperation(client, p)),
    waitForStatus: (p) => waitForStatus(client, p),
    safeWaitForStatus: (p) => safe(waitForStatus(client, p)),
  };
  return client;
}

/** Phase one: validate and hash the app-compose; PHALA KMS also returns app_id and its env key. */
export function provisionCvm(client: Client, p: ProvisionCvmParams): Promise<ProvisionCvmResult> {
  const { node_id, ...rest } = p;
  return callEndpoint(client, api.provisionCvm, {
    body: {
      ...rest,
      ...(node_id != null ? { teepod_id: node_id } : {}),
      instance_type: p.instance_type ?? (p.vcpu || p.memory ? undefined : 'tdx.small'),
    },
  });
}

/** Phase two: create the CVM from a provision and start it. */
export function commitCvmProvision(client: Client, p: CommitCvmProvisionParams): Promise<CvmVm> {
  // the VM with its numeric id, as 2025-10-28 and 2026-01-21 answer it (later versions answer the id as a string)
  return callEndpoint(client, api.commitCvmProvision, { body: p, version: DEFAULT_API_VERSION });
}

/** `GET /cvms/{id}` in the client's API version (`getCvmDetail` always reads 2026-01-21). */
export function getCvmInfo<V extends ApiVersion>(client: Client<V>, p: { id: CvmId }): Promise<CvmInfo<V>> {
  return callEndpoint(client, api.getCvm, { params: { id: p.id } });
}

/** Seal env vars to an app's X25519 key (dstack's scheme: the result goes in `encrypted_env`). */
export async function encryptEnvVars(envs: EnvVar[], publicKeyHex: string): Promise<string> {
  return encryptEnv(envs, publicKeyHex);
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
