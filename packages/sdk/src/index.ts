/**
 * @opencvm/sdk — the TypeScript client of opencvm (and of any Phala-Cloud-compatible API).
 * This first cut covers the two-phase deploy: provision, seal the env, commit, read the CVM.
 * Actions are standalone functions `fn(client, params)`, also bound as `client.fn(params)`, each with
 * a `safe*` twin that returns `{success, data | error}` instead of throwing.
 */
import { DEFAULT_API_VERSION, encryptEnv, type ApiVersion, type EnvVar } from '@opencvm/core';

export type { EnvVar };

export interface ClientConfig {
  /** API prefix including /api/v1; default $PHALA_CLOUD_API_PREFIX or http://127.0.0.1:8000/api/v1 */
  baseURL?: string;
  /** default $PHALA_CLOUD_API_KEY */
  apiKey?: string;
  version?: ApiVersion;
  timeoutMs?: number;
}

/** An API error: the HTTP status, the `ERR-xx-yyy` code and the server's message. */
export class OpenCvmError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string | null,
    readonly details: { field?: string; message?: string }[] = [],
    readonly suggestions: string[] = [],
  ) {
    super(message);
    this.name = 'OpenCvmError';
  }
}

export interface Client {
  readonly config: Required<Omit<ClientConfig, 'apiKey'>> & { apiKey?: string };
  request<T>(method: string, path: string, body?: unknown): Promise<T>;
  provisionCvm(p: ProvisionCvmParams): Promise<ProvisionCvmResult>;
  safeProvisionCvm(p: ProvisionCvmParams): Promise<SafeResult<ProvisionCvmResult>>;
  commitCvmProvision(p: CommitCvmProvisionParams): Promise<CvmVm>;
  safeCommitCvmProvision(p: CommitCvmProvisionParams): Promise<SafeResult<CvmVm>>;
  getCvmInfo(p: { id: string }): Promise<Record<string, unknown> & { id: string; name: string; status: string }>;
}

export type SafeResult<T> = { success: true; data: T } | { success: false; error: OpenCvmError };

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
    async request<T>(method: string, path: string, body?: unknown): Promise<T> {
      const res = await fetch(`${cfg.baseURL}${path}`, {
        method,
        headers: {
          'x-phala-version': cfg.version,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(cfg.apiKey ? { 'x-api-key': cfg.apiKey } : {}),
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

async function safe<T>(p: Promise<T>): Promise<SafeResult<T>> {
  try {
    return { success: true, data: await p };
  } catch (e) {
    return { success: false, error: e instanceof OpenCvmError ? e : new OpenCvmError(String((e as Error)?.message ?? e), 0, null) };
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function toError(status: number, data: unknown, text: string): OpenCvmError {
  const detail = (data as { detail?: unknown } | undefined)?.detail;
  if (detail && typeof detail === 'object' && !Array.isArray(detail)) {
    const d = detail as { error_code?: string; message?: string; details?: []; suggestions?: string[] };
    return new OpenCvmError(d.message ?? `HTTP ${status}`, status, d.error_code ?? null, d.details, d.suggestions);
  }
  if (typeof detail === 'string') return new OpenCvmError(detail, status, null);
  return new OpenCvmError(text || `HTTP ${status}`, status, null);
}
