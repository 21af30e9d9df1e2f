/**
 * Answers of the list and state reads, built from the same `CvmView` rows as `GET /cvms/{id}`, each typed by
 * its contract schema. Optional-but-not-nullable keys are omitted rather than null (the official SDK refuses a
 * null there); required-but-nullable keys are always present.
 */
import type {
  ApiVersion,
  CvmStatus,
  KmsType,
  OperationKind,
  appV2025Schema,
  appV2026Schema,
  cvmBasicInfoV2025Schema,
  cvmInfoV2026Schema,
  cvmListItemV2025Schema,
  cvmStateSchema,
  cvmStatusEntrySchema,
  nodeRefSchema,
  userConfigSchema,
  workspaceSchema,
  z,
} from '@opencvm/contract';
import { cvmDetailV2025, cvmInfoV2026, kmsInfo, uptimeOf, type CvmView } from './shapes.ts';

/**
 * `CvmInfoV20251028Schema`: an item of `/cvms/paginated` and `/apps/{id}/cvms` under 2025-10-28.
 * `syslogEndpoint`: the signed log URL, as for the v2025 detail.
 */
export function cvmListItemV2025(c: CvmView, extras: { syslogEndpoint?: string } = {}): z.input<typeof cvmListItemV2025Schema> {
  const d = cvmDetailV2025(c, extras);
  return {
    hosted: {
      id: c.vm_uuid,
      name: c.name,
      status: c.status,
      uptime: uptimeOf(c),
      app_url: d.dapp_dashboard_url,
      app_id: c.app_id,
      instance_id: c.instance_id,
      exited_at: c.exited_at ? c.exited_at.toISOString() : null,
      boot_progress: c.boot_progress,
      boot_error: c.boot_error,
      shutdown_progress: c.shutdown_progress,
      image_version: c.image_version,
    },
    name: c.name,
    managed_user: c.creator ? { id: c.creator.id, username: c.creator.username } : null,
    node: { id: c.node.id, name: c.node.name, region_identifier: c.node.region },
    listed: c.listed,
    status: c.status,
    in_progress: c.progress !== null,
    dapp_dashboard_url: d.dapp_dashboard_url,
    syslog_endpoint: d.syslog_endpoint,
    allow_upgrade: false,
    project_id: null,
    project_type: null,
    billing_period: null,
    kms_info: kmsInfo(c.kms),
    vcpu: c.vcpu,
    memory: c.memory_mb,
    disk_size: c.disk_gb,
    gateway_domain: c.node.gateway_base_domain,
    public_urls: d.public_urls,
    machine_info: d.machine_info,
    updated_at: c.updated_at.toISOString(),
  };
}

/** `CvmBasicInfoV20251028Schema`: an app's `current_cvm` / `cvms[]` under 2025-10-28. */
export function cvmBasicInfoV2025(c: CvmView): z.input<typeof cvmBasicInfoV2025Schema> {
  return {
    vm_uuid: c.vm_uuid,
    app_id: c.app_id,
    name: c.name,
    status: c.status,
    vcpu: c.vcpu,
    memory: c.memory_mb,
    disk_size: c.disk_gb,
    teepod_id: c.node.id,
    teepod_name: c.node.name,
    region_identifier: c.node.region,
    kms_type: c.kms.kms_type,
    instance_type: c.instance_type,
    listed: c.listed,
    base_image: c.image,
    kms_slug: c.kms.slug,
    kms_id: c.kms.id,
    instance_id: c.instance_id,
    machine_info: { vcpu: c.vcpu, memory: c.memory_mb, disk_size: c.disk_gb, gpu_count: 0 },
    updated_at: c.updated_at.toISOString(),
  };
}

/** A CVM as a list item in the shape the API version asks for (`/cvms/paginated`, `/apps/{id}/cvms`). */
export function cvmListItem(c: CvmView, version: '2025-10-28', extras?: { syslogEndpoint?: string }): z.input<typeof cvmListItemV2025Schema>;
export function cvmListItem(c: CvmView, version: Exclude<ApiVersion, '2025-10-28'>, extras?: { syslogEndpoint?: string }): z.input<typeof cvmInfoV2026Schema>;
export function cvmListItem(c: CvmView, version: ApiVersion, extras: { syslogEndpoint?: string } = {}) {
  return version === '2025-10-28' ? cvmListItemV2025(c, extras) : cvmInfoV2026(c);
}

export interface AppRecord {
  app_id: string;
  name: string;
  created_at: Date;
  kms_type: KmsType;
}

/**
 * `DstackAppFullResponse` (both versions): the app, its live CVMs newest first, and `current_cvm` = the
 * newest of them (null when it has none). `id` is the app id itself, so it works in `/apps/{id}` paths.
 */
export function appShape(app: AppRecord, cvms: CvmView[], version: '2025-10-28'): z.input<typeof appV2025Schema>;
export function appShape(app: AppRecord, cvms: CvmView[], version: Exclude<ApiVersion, '2025-10-28'>): z.input<typeof appV2026Schema>;
export function appShape(app: AppRecord, cvms: CvmView[], version: ApiVersion): z.input<typeof appV2025Schema> | z.input<typeof appV2026Schema>;
export function appShape(app: AppRecord, cvms: CvmView[], version: ApiVersion) {
  const one = (c: CvmView) => (version === '2025-10-28' ? cvmBasicInfoV2025(c) : cvmInfoV2026(c));
  return {
    id: app.app_id,
    name: app.name,
    app_id: app.app_id,
    created_at: app.created_at.toISOString(),
    kms_type: app.kms_type,
    current_cvm: cvms.length ? one(cvms[0]) : null,
    cvms: cvms.map(one),
    cvm_count: cvms.length,
  };
}

/** The columns `/cvms/{id}/state` and `/status/batch` read (a light query, polled by the SSE watch). */
export interface CvmStateRecord {
  name: string;
  status: CvmStatus;
  vm_uuid: string;
  instance_id: string | null;
  boot_progress: string | null;
  boot_error: string | null;
  shutdown_progress: string | null;
  started_at: Date | null;
  exited_at: Date | null;
  /** the active operation (pending or running), if any */
  op_kind: OperationKind | null;
  op_started_at: Date | null;
  op_correlation_id: string | null;
}

/** `CvmStateSchema` (#36a): strings only, and a key is absent rather than null (null fails the SDK). */
export function cvmStateShape(c: CvmStateRecord, now = Date.now()): z.input<typeof cvmStateSchema> {
  const out: z.input<typeof cvmStateSchema> & Record<string, string> = { id: c.vm_uuid, name: c.name, status: c.status };
  const opt: [string, string | null | undefined][] = [
    ['instance_id', c.instance_id],
    ['uptime', uptimeOf(c, now) || null],
    ['exited_at', c.exited_at?.toISOString()],
    ['boot_progress', c.boot_progress],
    ['boot_error', c.boot_error],
    ['shutdown_progress', c.shutdown_progress],
  ];
  for (const [k, v] of opt) if (typeof v === 'string' && v !== '') out[k] = v;
  return out;
}

/** `CvmStatusSchema` (#43): one entry of the `/status/batch` map. */
export function cvmStatusShape(c: CvmStateRecord, now = Date.now()): z.input<typeof cvmStatusEntrySchema> {
  return {
    vm_uuid: c.vm_uuid,
    status: c.status,
    in_progress: c.op_kind !== null,
    uptime: uptimeOf(c, now) || null,
    boot_progress: c.boot_progress,
    boot_error: c.boot_error,
    operation_type: c.op_kind,
    operation_started_at: c.op_started_at ? c.op_started_at.toISOString() : null,
    correlation_id: c.op_correlation_id,
  };
}

/** `CvmUserConfigSchema` (#41): `ssh_authorized_keys` is never null (optional-not-nullable, default []). */
export function userConfigShape(userConfig: string | null, fallback: { hostname: string; gatewayDomain: string | null }): z.input<typeof userConfigSchema> {
  let parsed: Record<string, unknown> = {};
  try {
    const v = userConfig ? JSON.parse(userConfig) : {};
    if (v && typeof v === 'object' && !Array.isArray(v)) parsed = v;
  } catch {
    /* an opaque (non-JSON) user_config carries none of these keys */
  }
  const keys = Array.isArray(parsed.ssh_authorized_keys) ? parsed.ssh_authorized_keys.filter((k): k is string => typeof k === 'string') : [];
  return {
    hostname: typeof parsed.hostname === 'string' ? parsed.hostname : fallback.hostname,
    ssh_authorized_keys: keys,
    default_gateway_domain: typeof parsed.default_gateway_domain === 'string' ? parsed.default_gateway_domain : fallback.gatewayDomain,
  };
}

/** `[major, minor, patch(, build)]` of a dstack image version ("0.5.8" → [0, 5, 8]), as `/teepods/available` gives it. */
export function versionTuple(version: string): [number, number, number] | [number, number, number, number] {
  const parts = (version.match(/\d+/g) ?? []).map(Number).slice(0, 4);
  while (parts.length < 3) parts.push(0);
  return parts as [number, number, number] | [number, number, number, number];
}

/** A node as a `NodeRef` (`object_type: "node"`): `/workspaces/{slug}/nodes` items. */
export function nodeRef(n: { id: number; name: string; region: string; device_id: string; ppid: string; status: string; version: string | null }): z.input<typeof nodeRefSchema> {
  return { object_type: 'node' as const, id: n.id, name: n.name, region: n.region, device_id: n.device_id, ppid: n.ppid, status: n.status, version: n.version };
}

export interface WorkspaceRecord {
  id: number;
  name: string;
  slug: string;
  tier: string;
  role: string;
  created_at: Date;
}

/** `WorkspaceResponseSchema` (#2, #3); `is_default` marks the workspace of the API key in use. */
export function workspaceShape(w: WorkspaceRecord, currentWorkspaceId: number): z.input<typeof workspaceSchema> {
  return {
    id: String(w.id),
    name: w.name,
    slug: w.slug,
    tier: w.tier,
    role: w.role,
    is_default: w.id === currentWorkspaceId,
    created_at: w.created_at.toISOString(),
  };
}
