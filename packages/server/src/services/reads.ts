/**
 * The list and state reads of the Phala Cloud API: CVM pages, apps, status batches, a CVM's state,
 * available nodes, workspaces and quotas. Every query is scoped to the caller's workspace and reads the
 * store only.
 */
import {
  ErrorCodes,
  cvmInfoV2026,
  cvmListItemV2025,
  type ApiVersion,
  normalizeUuid,
  notFound,
  type AppRecord,
  type CvmStateRecord,
  type CvmView,
  type KmsRecord,
  type WorkspaceRecord,
  versionTuple,
  type z,
} from '@opencvm/core';
import type { teepodCapacitySchema } from '@opencvm/contract';
import type { Db } from '../db/index.ts';
import { appFilterOptions, appRecords, listAppPage, type AppFilterOptions, type AppListFilter } from '../store/apps.ts';
import { cvmStatesByUuid, cvmUserConfig, listCvmPage, listCvmsOfApps, type CvmListFilter } from '../store/cvms.ts';
import { listKms } from '../store/kms.ts';
import { listNodeImages, listNodes, nodeUsage, type NodeImageRow, type NodeRow } from '../store/nodes.ts';
import { countMemberships, memberWorkspaceBySlug, memberWorkspaces } from '../store/workspaces.ts';
import type { Principal } from './auth.ts';
import type { ChainService } from './chain.ts';
import type { LogUrlService } from './log-urls.ts';

export interface NodeUsage {
  node: NodeRow;
  images: NodeImageRow[];
  used: { cvms: number; vcpu: number; memory_mb: number; disk_gb: number; gpu_slots: string[] };
}

/** A limit and what remains of it; -1 for both: not limited. */
export interface Quota {
  limit: number;
  remaining: number;
}

/**
 * What a self-hosted workspace can place (`GET /workspaces/{slug}/quotas`): its limit is what the online hosts
 * can hold, and what remains is that minus every CVM placed on them; -1 = not limited (a host reports no cap).
 */
export function nodeQuotas(nodes: NodeUsage[]): { vm_slots: Quota; vcpu: Quota; memory_mb: Quota } {
  const metric = (max: (n: NodeUsage) => number, used: (n: NodeUsage) => number): Quota => {
    if (nodes.some((n) => !max(n))) return { limit: -1, remaining: -1 };
    const limit = nodes.reduce((sum, n) => sum + max(n), 0);
    return { limit, remaining: Math.max(0, limit - nodes.reduce((sum, n) => sum + used(n), 0)) };
  };
  return {
    vm_slots: metric((n) => n.node.max_cvms, (n) => n.used.cvms),
    vcpu: metric((n) => n.node.max_vcpu, (n) => n.used.vcpu),
    memory_mb: metric((n) => n.node.max_memory_mb, (n) => n.used.memory_mb),
  };
}

/** -1: the host did not report a limit for this resource, and placement does not cap it. */
const left = (max: number, used: number) => (max ? Math.max(0, max - used) : -1);

/** Whether a node takes the apps of a KMS: an on-chain KMS only where the host takes on-chain KMS apps (as placement checks). */
export const nodeTakesKms = (node: Pick<NodeRow, 'onchain_kms'>, kms: Pick<KmsRecord, 'chain_id'>): boolean => kms.chain_id === null || node.onchain_kms;

/** A node as `GET /teepods/available` answers it (Phala's `TeepodCapacity`): free capacity (-1: not capped), images, KMS. */
export function teepodCapacity({ node, images, used }: NodeUsage, kms: KmsRecord[]): z.input<typeof teepodCapacitySchema> {
  return {
    teepod_id: node.id,
    name: node.name,
    listed: node.listed,
    resource_score: node.max_memory_mb ? Math.round((left(node.max_memory_mb, used.memory_mb) / node.max_memory_mb) * 100) / 100 : 1,
    remaining_vcpu: left(node.max_vcpu, used.vcpu),
    remaining_memory: left(node.max_memory_mb, used.memory_mb),
    remaining_cvm_slots: left(node.max_cvms, used.cvms),
    images: images.map((i) => ({
      name: i.name,
      is_dev: i.is_dev,
      version: versionTuple(i.version),
      os_image_hash: i.os_image_hash,
      requires_gpu: i.requires_gpu,
    })),
    support_onchain_kms: node.onchain_kms && kms.some((k) => k.chain_id !== null),
    fmspc: node.fmspc || null,
    device_id: node.device_id,
    region_identifier: node.region,
    default_kms: kms.find((k) => k.kms_type === 'phala')?.id ?? null,
    kms_list: kms.map((k) => k.id),
    gateway_base_domain: node.gateway_base_domain,
  };
}

/** The GPUs placement could still give: those of online, uncordoned nodes that no live CVM holds. */
export function freeGpuCount(nodes: NodeUsage[]): number {
  return nodes
    .filter((n) => !n.node.cordoned)
    .reduce((sum, { node, used }) => {
      const taken = new Set(used.gpu_slots);
      return sum + (node.gpus ?? []).filter((g) => !taken.has(g.slot)).length;
    }, 0);
}

const UUID_ANY = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

/** How many pages of `pageSize` hold `total` items (at least one). */
export const pageCount = (total: number, pageSize: number) => Math.max(1, Math.ceil(total / pageSize));

export class ReadService {
  constructor(
    private readonly db: Db,
    private readonly logUrls: LogUrlService,
    private readonly chain: ChainService,
  ) {}

  /** CVM list items; the 2025-10-28 ones carry their signed `syslog_endpoint` as the 2025-10-28 detail does. */
  listItems(cvms: CvmView[], version: '2025-10-28'): Promise<ReturnType<typeof cvmListItemV2025>[]>;
  listItems(cvms: CvmView[], version: Exclude<ApiVersion, '2025-10-28'>): Promise<ReturnType<typeof cvmInfoV2026>[]>;
  async listItems(cvms: CvmView[], version: ApiVersion) {
    return version === '2025-10-28'
      ? Promise.all(cvms.map(async (c) => cvmListItemV2025(c, { syslogEndpoint: await this.logUrls.syslogEndpoint(c.vm_uuid) })))
      : cvms.map((c) => cvmInfoV2026(c));
  }

  cvmPage(p: Principal, filter: CvmListFilter, page: number, pageSize: number) {
    return listCvmPage(this.db, p.workspaceId, filter, { limit: pageSize, offset: (page - 1) * pageSize });
  }

  /**
   * Apps of the workspace that have a live CVM (`apps.live_cvms`, kept by a trigger) matching the filter,
   * newest app first. CVM-level filters (status, listed, image, instance type, node, region, search) need
   * one of the app's live CVMs to match them all.
   */
  async apps(p: Principal, f: AppListFilter, page: number, pageSize: number): Promise<{ apps: { app: AppRecord; cvms: CvmView[] }[]; total: number }> {
    const { ids, total } = await listAppPage(this.db, p.workspaceId, f, { limit: pageSize, offset: (page - 1) * pageSize });
    if (!ids.length) return { apps: [], total };
    const [rows, cvms] = await Promise.all([appRecords(this.db, ids), listCvmsOfApps(this.db, p.workspaceId, ids)]);
    const byId = new Map(rows.map((r) => [r.app_id, r]));
    return {
      apps: ids.flatMap((id) => {
        const app = byId.get(id);
        return app ? [{ app, cvms: cvms.filter((c) => c.app_id === id) }] : [];
      }),
      total,
    };
  }

  /** The values `GET /apps`'s filters can take: the distinct ones of the workspace's live CVMs (no other workspace's). */
  appFilterOptions(p: Principal): Promise<AppFilterOptions> {
    return appFilterOptions(this.db, p.workspaceId);
  }

  /** An app's live CVMs, newest first. */
  appCvms(p: Principal, app: AppRecord): Promise<CvmView[]> {
    return listCvmsOfApps(this.db, p.workspaceId, [app.app_id]);
  }

  /**
   * `/status/batch`: the state of each live CVM of the workspace among `vmUuids`, keyed by exactly the
   * string the caller sent. Unknown, foreign, deleted and malformed ids are left out.
   */
  async statusBatch(p: Principal, vmUuids: string[]): Promise<Map<string, CvmStateRecord>> {
    const byUuid = new Map<string, string[]>();
    for (const sent of vmUuids) {
      if (!UUID_ANY.test(sent)) continue;
      const u = normalizeUuid(sent);
      byUuid.set(u, [...(byUuid.get(u) ?? []), sent]);
    }
    const out = new Map<string, CvmStateRecord>();
    if (!byUuid.size) return out;
    for (const r of await cvmStatesByUuid(this.db, p.workspaceId, [...byUuid.keys()])) for (const sent of byUuid.get(r.vm_uuid) ?? []) out.set(sent, r);
    return out;
  }

  userConfig(cvmId: number): Promise<string | null> {
    return cvmUserConfig(this.db, cvmId);
  }

  /** Every node with its images and what the live CVMs placed on it reserve (as the scheduler counts it). */
  async nodeUsage(onlineOnly: boolean): Promise<NodeUsage[]> {
    const [nodes, images, usage] = await Promise.all([listNodes(this.db, { onlineOnly }), listNodeImages(this.db), nodeUsage(this.db)]);
    const used = new Map(usage.map((u) => [u.node_id, u]));
    return nodes.map((node) => ({
      node,
      images: images.filter((i) => i.node_id === node.id),
      used: used.get(node.id) ?? { cvms: 0, vcpu: 0, memory_mb: 0, disk_gb: 0, gpu_slots: [] },
    }));
  }

  kmsList(): Promise<KmsRecord[]> {
    return listKms(this.db, this.chain.offeredKmsTypes());
  }

  /** The workspaces the caller's user is a member of, by id, after `afterId`. */
  async workspaces(p: Principal, afterId: number, limit: number): Promise<{ items: WorkspaceRecord[]; total: number }> {
    const [items, total] = await Promise.all([memberWorkspaces(this.db, p.userId, afterId, limit), countMemberships(this.db, p.userId)]);
    return { items, total };
  }

  /** A workspace the caller's user is a member of, by slug; 404 for any other (unknown or not a member). */
  async workspace(p: Principal, slug: string): Promise<WorkspaceRecord> {
    const workspace = await memberWorkspaceBySlug(this.db, p.userId, slug);
    if (!workspace) {
      throw notFound(ErrorCodes.WORKSPACE_NOT_FOUND, `Workspace "${slug}" was not found among yours: list them with GET /workspaces.`);
    }
    return workspace;
  }
}
