/**
 * @opencvm/sdk — the TypeScript client of opencvm (and of any Phala-Cloud-compatible API).
 * It covers the two-phase deploy (provision, seal the env, commit, read the CVM) and the configuration
 * updates (`updates.ts`: the unified PATCH and its prepare/commit form, envs, compose-file provision/commit,
 * resources, revisions and rollback, a new instance id, and waiting for an operation to end).
 * Actions are standalone functions `fn(client, params)`, also bound as `client.fn(params)`, each with
 * a `safe*` twin that returns `{success, data | error}` instead of throwing.
 */
import { DEFAULT_API_VERSION, encryptEnv, type ApiVersion, type EnvVar } from '@opencvm/core';
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
  type ComposeFileFields,
  type ComposeUpdateProvision,
  type CvmDetail,
  type CvmId,
  type GetRevisionParams,
  type InstanceIdRefresh,
  type PreparedUpdate,
  type RevisionDetail,
  type RevisionPage,
  type SealedEnvChange,
  type UpdateAccepted,
  type UpdateCvmParams,
  type UpdateResourcesParams,
  type WaitForOperationParams,
  type WaitForStatusParams,
} from './updates.ts';

export type { EnvVar };
export { CvmWaitError, OpenCvmError, type ErrorDetail, type SafeResult } from './errors.ts';
export * from './updates.ts';

export interface ClientConfig {
  /** API prefix including /api/v1; default $PHALA_CLOUD_API_PREFIX or http://127.0.0.1:8000/api/v1 */
  baseURL?: string;
  /** default $PHALA_CLOUD_API_KEY */
  apiKey?: string;
  version?: ApiVersion;
  timeoutMs?: number;
}

/** Per-request options of `client.request`. */
export interface RequestOptions {
  /** extra headers (they win over the client's own, e.g. `x-phala-version`) */
  headers?: Record<string, string>;
}

export interface Client {
  readonly config: Required<Omit<ClientConfig, 'apiKey'>> & { apiKey?: string };
  request<T>(method: string, path: string, body?: unknown, opts?: RequestOptions): Promise<T>;
  // deploy
  provisionCvm(p: ProvisionCvmParams): Promise<ProvisionCvmResult>;
  safeProvisionCvm(p: ProvisionCvmParams): Promise<SafeResult<ProvisionCvmResult>>;
  commitCvmProvision(p: CommitCvmProvisionParams): Promise<CvmVm>;
  safeCommitCvmProvision(p: CommitCvmProvisionParams): Promise<SafeResult<CvmVm>>;
  getCvmInfo(p: { id: string }): Promise<Record<string, unknown> & { id: string; name: string; status: string }>;
  getCvmDetail(p: { id: CvmId }): Promise<CvmDetail>;
  safeGetCvmDetail(p: { id: CvmId }): Promise<SafeResult<CvmDetail>>;
  // configuration updates (updates.ts)
  updateCvm(p: UpdateCvmParams): Promise<UpdateAccepted>;
  safeUpdateCvm(p: UpdateCvmParams): Promise<SafeResult<UpdateAccepted>>;
  prepareCvmUpdate(p: UpdateCvmParams): Promise<PreparedUpdate>;
  safePrepareCvmUpdate(p: UpdateCvmParams): Promise<SafeResult<PreparedUpdate>>;
  commitCvmUpdate(p: { id: CvmId; token: string; compose_hash?: string }): Promise<UpdateAccepted>;
  safeCommitCvmUpdate(p: { id: CvmId; token: string; compose_hash?: string }): Promise<SafeResult<UpdateAccepted>>;
  updateCvmEnvs(p: { id: CvmId; envs: EnvVar[] }): Promise<UpdateAccepted>;
  safeUpdateCvmEnvs(p: { id: CvmId; envs: EnvVar[] }): Promise<SafeResult<UpdateAccepted>>;
  provisionComposeUpdate(p: { id: CvmId } & ComposeFileFields): Promise<ComposeUpdateProvision>;
  safeProvisionComposeUpdate(p: { id: CvmId } & ComposeFileFields): Promise<SafeResult<ComposeUpdateProvision>>;
  commitComposeUpdate(p: { id: CvmId; compose_hash: string } & SealedEnvChange): Promise<UpdateAccepted>;
  safeCommitComposeUpdate(p: { id: CvmId; compose_hash: string } & SealedEnvChange): Promise<SafeResult<UpdateAccepted>>;
  updateResources(p: UpdateResourcesParams): Promise<UpdateAccepted>;
  safeUpdateResources(p: UpdateResourcesParams): Promise<SafeResult<UpdateAccepted>>;
  listRevisions(p: { app_id: string; page?: number; page_size?: number }): Promise<RevisionPage>;
  safeListRevisions(p: { app_id: string; page?: number; page_size?: number }): Promise<SafeResult<RevisionPage>>;
  getRevision<Raw extends boolean = false>(p: GetRevisionParams<Raw>): Promise<RevisionDetail<Raw>>;
  safeGetRevision<Raw extends boolean = false>(p: GetRevisionParams<Raw>): Promise<SafeResult<RevisionDetail<Raw>>>;
  rollbackToRevision(p: { app_id: string; revision_id: string; cvm_id?: CvmId }): Promise<UpdateAccepted>;
  safeRollbackToRevision(p: { app_id: string; revision_id: string; cvm_id?: CvmId }): Promise<SafeResult<UpdateAccepted>>;
  refreshInstanceId(p: { id: CvmId }): Promise<InstanceIdRefresh>;
  safeRefreshInstanceId(p: { id: CvmId }): Promise<SafeResult<InstanceIdRefresh>>;
  waitForOperation(p: WaitForOperationParams): Promise<CvmDetail>;
  safeWaitForOperation(p: WaitForOperationParams): Promise<SafeResult<CvmDetail>>;
  waitForStatus(p: WaitForStatusParams): Promise<CvmDetail>;
  safeWaitForStatus(p: WaitForStatusParams): Promise<SafeResult<CvmDetail>>;
}

export interface ProvisionCvmParams {
  name: string;
  compose_file: {
    docker_compose_file: string;
    allowed_envs?: string[];
    pre_launch_script?: string;
    gateway_enabled?: boolean;
    kms_enabled?: boolean;
    public_logs?: boolean;
    public_sysinfo?: boolean;
  };
  instance_type?: string;
  node_id?: number;
  region?: string;
  image?: string;
  vcpu?: number;
  memory?: number;
  disk_size?: number;
  kms?: 'PHALA' | 'ETHEREUM' | 'BASE';
  env_keys?: string[];
  nonce?: number;
  app_id?: string;
  listed?: boolean;
}

export interface ProvisionCvmResult {
  compose_hash: string;
  app_id: string | null;
  app_env_encrypt_pubkey: string | null;
  kms_id: string | null;
  device_id: string | null;
  fmspc: string | null;
  os_image_hash: string | null;
  instance_type: string | null;
  node_id: number | null;
}

export interface CommitCvmProvisionParams {
  app_id: string;
  compose_hash: string;
  encrypted_env?: string;
  env_keys?: string[];
}

export interface CvmVm {
  id: number;
  name: string;
  status: string;
  app_id: string;
  vm_uuid: string;
  teepod_id: number;
}

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
  return client.request('POST', '/cvms/provision', {
    ...rest,
    ...(node_id != null ? { teepod_id: node_id } : {}),
    instance_type: p.instance_type ?? (p.vcpu || p.memory ? undefined : 'tdx.small'),
  });
}

/** Phase two: create the CVM from a provision and start it. */
export function commitCvmProvision(client: Client, p: CommitCvmProvisionParams): Promise<CvmVm> {
  return client.request('POST', '/cvms', p);
}

export function getCvmInfo(client: Client, p: { id: string }) {
  return client.request<Record<string, unknown> & { id: string; name: string; status: string }>('GET', `/cvms/${encodeURIComponent(p.id)}`);
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
