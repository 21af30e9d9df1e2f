/**
 * Response shapes of the Phala Cloud API, built from the control plane's records.
 * Each builder follows the `@phala/cloud` SDK's response schema to the key: required-but-nullable keys are always
 * present, optional-but-not-nullable keys are omitted rather than null.
 */
import { idsAreStrings } from '@opencvm/contract';
import type {
  ApiVersion,
  CvmStatus,
  KmsType,
  OperationKind,
  commitResultSchema,
  cvmDetailV2025Schema,
  cvmInfoV2026Schema,
  kmsContractNodeSchema,
  kmsContractSchema,
  kmsInfoSchema,
  vmSchema,
  z,
} from '@opencvm/contract';
import { publishedPortsOf } from './published-ports.ts';

export interface KmsRecord {
  id: string;
  slug: string | null;
  kms_type: KmsType;
  url: string;
  version: string;
  chain_id: number | null;
  kms_contract_address: string | null;
  gateway_app_id: string | null;
}

export interface NodeRecord {
  id: number;
  name: string;
  region: string;
  device_id: string;
  ppid: string;
  fmspc: string;
  status: string;
  version: string | null;
  gateway_base_domain: string | null;
}

export interface OperationProgress {
  kind: OperationKind;
  target: string;
  started_at: Date;
  correlation_id: string;
}

/** Everything the CVM shapes need: one row of the store, joined. */
export interface CvmView {
  id: number;
  vm_uuid: string;
  name: string;
  status: CvmStatus;
  app_id: string;
  instance_id: string | null;
  workspace: { id: number; name: string; slug: string };
  creator: { id: number; username: string } | null;
  node: NodeRecord;
  kms: KmsRecord;
  env_pubkey: string | null;
  contract_address: string | null;
  deployer_address: string | null;
  instance_type: string | null;
  vcpu: number;
  memory_mb: number;
  disk_gb: number;
  image: string;
  image_version: string | null;
  image_is_dev: boolean;
  os_image_hash: string | null;
  compose_hash: string;
  app_compose: string;
  listed: boolean;
  boot_progress: string | null;
  boot_error: string | null;
  shutdown_progress: string | null;
  started_at: Date | null;
  exited_at: Date | null;
  created_at: Date;
  updated_at: Date;
  /** when `PATCH /cvms/{id}/scheduled-delete` asked for the CVM to be deleted (null: not scheduled) */
  scheduled_delete_at: Date | null;
  progress: OperationProgress | null;
}

export function kmsInfo(k: KmsRecord): z.input<typeof kmsInfoSchema> {
  return {
    id: k.id,
    slug: k.slug,
    url: k.url,
    version: k.version,
    chain_id: k.chain_id,
    kms_contract_address: k.kms_contract_address,
    gateway_app_id: k.gateway_app_id,
  };
}

/**
 * A KMS as the KMS contract of X-Phala-Version 2026-06-23 (`KmsContract`): one contract per KMS, with one node
 * (this server's key service); `k256Pubkey` is the root key's public key, which signs the apps' env keys.
 */
export function kmsContract(k: KmsRecord, k256Pubkey: string | null): z.input<typeof kmsContractSchema> {
  return {
    id: k.id,
    slug: k.slug,
    label: k.chain_id == null ? `${k.kms_type.toUpperCase()} KMS` : `${k.kms_type.toUpperCase()} KMS (chain ${k.chain_id})`,
    contract_address: k.kms_contract_address ?? 'phala',
    chain_id: k.chain_id ?? 0,
    k256_pubkey: k256Pubkey,
    ca_pubkey: null,
    node_count: 1,
  };
}

/** A KMS as the one node of its contract (2026-06-23's `KmsContractNode`). */
export function kmsContractNode(k: KmsRecord): z.input<typeof kmsContractNodeSchema> {
  return { id: k.id, slug: k.slug, url: k.url, version: k.version, kms_type: k.kms_type };
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

/** dstack-style human uptime ("1h 2m 3s"), empty when not running. */
export function uptimeOf(c: Pick<CvmView, 'status' | 'started_at'>, now = Date.now()): string {
  if (c.status !== 'running' || !c.started_at) return '';
  let s = Math.max(0, Math.floor((now - c.started_at.getTime()) / 1000));
  const d = Math.floor(s / 86400); s %= 86400;
  const h = Math.floor(s / 3600); s %= 3600;
  const m = Math.floor(s / 60); s %= 60;
  return [d && `${d}d`, h && `${h}h`, m && `${m}m`, `${s}s`].filter(Boolean).join(' ');
}

/** The app-compose flags the shapes report; the record keeps the compose as the exact hashed text. */
export function composeFlags(appCompose: string) {
  const c = JSON.parse(appCompose) as Record<string, unknown>;
  const bool = (k: string, dflt: boolean) => (typeof c[k] === 'boolean' ? (c[k] as boolean) : dflt);
  return {
    compose: c,
    public_logs: bool('public_logs', false),
    public_sysinfo: bool('public_sysinfo', false),
    public_tcbinfo: bool('public_tcbinfo', true),
    gateway_enabled: bool('gateway_enabled', false) || bool('tproxy_enabled', false),
    secure_time: bool('secure_time', false),
    storage_fs: typeof c.storage_fs === 'string' ? c.storage_fs : 'zfs',
    docker_compose_file: typeof c.docker_compose_file === 'string' ? c.docker_compose_file : null,
    manifest_version: typeof c.manifest_version === 'number' ? c.manifest_version : 2,
    runner: typeof c.runner === 'string' ? c.runner : 'docker-compose',
    features: Array.isArray(c.features) ? (c.features as string[]) : [],
  };
}

/** `VMSchema` (`@phala/cloud`): the answer to start/stop/restart/replicate. */
export function vmShape(c: CvmView): z.input<typeof vmSchema> {
  const f = composeFlags(c.app_compose);
  return {
    id: c.id,
    name: c.name,
    status: c.status,
    teepod_id: c.node.id,
    teepod: { id: c.node.id, name: c.node.name, region_identifier: c.node.region },
    user_id: c.creator?.id ?? null,
    app_id: c.app_id,
    vm_uuid: c.vm_uuid,
    instance_id: c.instance_id,
    app_url: appUrl(c),
    base_image: c.image,
    vcpu: c.vcpu,
    memory: c.memory_mb,
    disk_size: c.disk_gb,
    manifest_version: f.manifest_version,
    version: '1.0.0',
    runner: f.runner,
    docker_compose_file: f.docker_compose_file,
    features: f.features,
    created_at: c.created_at.toISOString(),
    encrypted_env_pubkey: c.env_pubkey,
  };
}

/** A string `id` from `X-Phala-Version: 2026-05-22` on, where Phala's answers turned integer ids into strings. */
function idForVersion<T extends { id: number }>(shape: T, version: ApiVersion): T | (Omit<T, 'id'> & { id: string }) {
  return idsAreStrings(version) ? { ...shape, id: String(shape.id) } : shape;
}

/** The lifecycle answer for an API version: `VMSchema`, its `id` a string from 2026-05-22 on. */
export const vmAnswer = (c: CvmView, version: ApiVersion) => idForVersion(vmShape(c), version);

/** The commit answer for an API version: its `id` a string from 2026-05-22 on. */
export const commitAnswer = (c: CvmView, version: ApiVersion) => idForVersion(commitShape(c), version);

/** `POST /cvms` answer (SDK `commitCvmProvision`): a VM plus the on-chain fields. */
export function commitShape(c: CvmView): z.input<typeof commitResultSchema> {
  return {
    ...vmShape(c),
    app_auth_contract_address: c.contract_address,
    deployer_address: c.deployer_address,
  };
}

function appUrl(c: CvmView): string | null {
  if (!c.instance_id || !c.node.gateway_base_domain) return null;
  return `https://${c.instance_id}-8090.${c.node.gateway_base_domain}`;
}

/**
 * The CVM's gateway URLs, one per TCP port its compose publishes, in dstack's `<id>-<port>.<base_domain>` form
 * (dstack-gateway's routing): the app form (any instance) and this instance's form (empty until the instance id is
 * known). Empty when the app is not behind a gateway. The one answer for `public_urls` (v2025 detail and
 * list), `endpoints` (v2026) and `/cvms/{id}/network`. The ports are memoised by compose hash.
 */
export function gatewayUrls(
  c: CvmView,
  f: Pick<ReturnType<typeof composeFlags>, 'gateway_enabled' | 'docker_compose_file'> = composeFlags(c.app_compose),
): { app: string; instance: string }[] {
  const base = c.node.gateway_base_domain;
  if (!base || !f.gateway_enabled || !f.docker_compose_file) return [];
  return publishedPortsOf(c.compose_hash, f.docker_compose_file).map((port) => ({
    app: `https://${c.app_id}-${port}.${base}`,
    instance: c.instance_id ? `https://${c.instance_id}-${port}.${base}` : '',
  }));
}

/**
 * `CvmDetailV20251028Schema`: `GET /cvms/{id}` under `X-Phala-Version: 2025-10-28` (SDK `getCvmInfo`).
 * `syslogEndpoint`: the signed log URL (it needs the server's secret, so the caller computes it).
 */
export function cvmDetailV2025(c: CvmView, extras: { syslogEndpoint?: string } = {}): z.input<typeof cvmDetailV2025Schema> {
  const f = composeFlags(c.app_compose);
  return {
    id: c.id,
    name: c.name,
    status: c.status,
    in_progress: c.progress !== null,
    teepod_id: c.node.id,
    teepod: { id: c.node.id, name: c.node.name, region_identifier: c.node.region },
    app_id: c.app_id,
    vm_uuid: c.vm_uuid,
    instance_id: c.instance_id,
    vcpu: c.vcpu,
    memory: c.memory_mb,
    disk_size: c.disk_gb,
    base_image: c.image,
    encrypted_env_pubkey: c.env_pubkey,
    listed: c.listed,
    public_sysinfo: f.public_sysinfo,
    public_logs: f.public_logs,
    project_id: null,
    project_type: null,
    instance_type: c.instance_type,
    dapp_dashboard_url: appUrl(c),
    syslog_endpoint: extras.syslogEndpoint ?? null,
    contract_address: c.contract_address,
    deployer_address: c.deployer_address,
    scheduled_delete_at: iso(c.scheduled_delete_at),
    gateway_domain: c.node.gateway_base_domain,
    updated_at: c.updated_at.toISOString(),
    kms_info: kmsInfo(c.kms),
    public_urls: gatewayUrls(c, f),
    machine_info: { vcpu: c.vcpu, memory: c.memory_mb, disk_size: c.disk_gb, gpu_count: 0 },
  };
}

/** `CvmInfoV20260121Schema` (list item), and with `detail` the `GET /cvms/{id}` detail's part of it (plus `compose_file`). */
export function cvmInfoV2026(c: CvmView): z.input<typeof cvmInfoV2026Schema>;
export function cvmInfoV2026(c: CvmView, detail: true): z.input<typeof cvmInfoV2026Schema> & { compose_file: Record<string, unknown> };
export function cvmInfoV2026(c: CvmView, detail = false) {
  const f = composeFlags(c.app_compose);
  const info: z.input<typeof cvmInfoV2026Schema> = {
    id: c.vm_uuid,
    name: c.name,
    status: c.status,
    resource: {
      instance_type: c.instance_type,
      vcpu: c.vcpu,
      memory_in_gb: c.memory_mb / 1024,
      disk_in_gb: c.disk_gb,
      gpus: 0,
      compute_billing_price: null,
      billing_period: 'skip' as const,
    },
    gateway: { base_domain: c.node.gateway_base_domain, cname: null },
    app_id: c.app_id,
    vm_uuid: c.vm_uuid,
    instance_id: c.instance_id,
    node_info: {
      object_type: 'node' as const,
      id: c.node.id,
      name: c.node.name,
      region: c.node.region,
      device_id: c.node.device_id,
      ppid: c.node.ppid,
      status: c.node.status,
      version: c.node.version,
    },
    os: { name: c.image, version: c.image_version, is_dev: c.image_is_dev, os_image_hash: c.os_image_hash },
    kms_type: c.kms.kms_type,
    kms_info: {
      chain_id: c.kms.chain_id,
      dstack_kms_address: c.kms.kms_contract_address,
      dstack_app_address: c.contract_address,
      deployer_address: c.deployer_address,
      rpc_endpoint: null,
      encrypted_env_pubkey: c.env_pubkey,
    },
    progress: c.progress
      ? { target: c.progress.target, started_at: c.progress.started_at.toISOString(), correlation_id: c.progress.correlation_id }
      : null,
    compose_hash: c.compose_hash,
    services: [],
    endpoints: gatewayUrls(c, f),
    public_logs: f.public_logs,
    public_sysinfo: f.public_sysinfo,
    public_tcbinfo: f.public_tcbinfo,
    gateway_enabled: f.gateway_enabled,
    secure_time: f.secure_time,
    storage_fs: f.storage_fs,
    listed: c.listed,
    workspace: { object_type: 'workspace' as const, id: String(c.workspace.id), name: c.workspace.name, slug: c.workspace.slug, avatar_url: null },
    creator: c.creator ? { object_type: 'user' as const, id: String(c.creator.id), username: c.creator.username, avatar_url: null } : null,
  };
  return detail ? { ...info, compose_file: f.compose } : info;
}
