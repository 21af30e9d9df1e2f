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
} from '@opencvm/core';
import type { Db } from '../db/index.ts';
import { listCvmPage, listCvmsOfApps, type CvmListFilter } from '../store/cvms.ts';
import type { Principal } from './auth.ts';
import type { LogUrlService } from './log-urls.ts';
import type { NodeImageRow, NodeRow } from './nodes.ts';

export interface AppListFilter {
  search?: string;
  status?: string[];
  listed?: boolean;
  base_image?: string;
  instance_type?: string;
  kms_slug?: string;
  kms_type?: string;
  node?: string;
  region?: string;
}

export interface NodeUsage {
  node: NodeRow;
  images: NodeImageRow[];
  used: { cvms: number; vcpu: number; memory_mb: number; disk_gb: number };
}

const UUID_ANY = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

const STATE_COLUMNS = `c.name, c.status, c.vm_uuid, c.instance_id, c.boot_progress, c.boot_error, c.shutdown_progress,
       c.started_at, c.exited_at, o.kind AS op_kind, o.created_at AS op_started_at, o.correlation_id AS op_correlation_id`;

/** How many pages of `pageSize` hold `total` items (at least one). */
export const pageCount = (total: number, pageSize: number) => Math.max(1, Math.ceil(total / pageSize));

export class ReadService {
  constructor(
    private readonly db: Db,
    private readonly logUrls: LogUrlService,
  ) {}

  /** CVM list items; the 2025-10-28 ones carry their signed `syslog_endpoint` as the 2025-10-28 detail does. */
  listItems(cvms: CvmView[], version: '2025-10-28'): Promise<ReturnType<typeof cvmListItemV2025>[]>;
  listItems(cvms: CvmView[], version: '2026-01-21'): Promise<ReturnType<typeof cvmInfoV2026>[]>;
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
    const args: unknown[] = [p.workspaceId];
    const arg = (v: unknown) => `$${args.push(v)}`;
    const cvmConds: string[] = [];
    if (f.status?.length) cvmConds.push(`c.status = ANY(${arg(f.status)}::text[])`);
    if (f.listed !== undefined) cvmConds.push(`c.listed = ${arg(f.listed)}`);
    if (f.base_image) cvmConds.push(`c.image = ${arg(f.base_image)}`);
    if (f.instance_type) cvmConds.push(`c.instance_type = ${arg(f.instance_type)}`);
    if (f.node) {
      const n = arg(f.node);
      cvmConds.push(`c.node_id IN (SELECT id FROM nodes WHERE name = ${n} OR id::text = ${n})`);
    }
    if (f.region) cvmConds.push(`c.node_id IN (SELECT id FROM nodes WHERE region = ${arg(f.region)})`);
    const conds = ['a.workspace_id = $1', 'a.live_cvms > 0'];
    // CVM-level conditions: one of the app's live CVMs matches them all (probed through cvms_app)
    if (cvmConds.length) conds.push(`EXISTS (SELECT 1 FROM cvms c WHERE c.app_id = a.app_id AND c.deleted_at IS NULL AND ${cvmConds.join(' AND ')})`);
    const appConds: string[] = [];
    if (f.search) {
      // the few CVMs a search matches, as a semi-join over the workspace's live CVMs
      const s = arg(`%${f.search.replace(/[\\%_]/g, (m) => `\\${m}`)}%`);
      appConds.push(`(a.name ILIKE ${s} OR a.app_id ILIKE ${s} OR a.app_id IN (SELECT c.app_id FROM cvms c WHERE c.workspace_id = $1 AND c.deleted_at IS NULL
                  AND (c.name ILIKE ${s} OR c.vm_uuid::text ILIKE ${s} OR replace(c.vm_uuid::text, '-', '') ILIKE ${s} OR c.instance_id ILIKE ${s})))`);
    }
    const kms: string[] = [];
    if (f.kms_slug) kms.push(`slug = ${arg(f.kms_slug)}`);
    if (f.kms_type) kms.push(`kms_type = ${arg(f.kms_type)}`);
    if (kms.length) appConds.push(`a.kms_id IN (SELECT id FROM kms_instances WHERE ${kms.join(' AND ')})`);
    conds.push(...appConds);
    const where = conds.join(' AND ');
    // without filters the total is the trigger-kept count (migration 004); with CVM filters only, one pass
    // over the workspace's CVMs; otherwise a count of the matching apps
    const [count] = !cvmConds.length && !appConds.length
      ? await this.db.query<{ n: number }>('SELECT coalesce(max(n), 0)::int AS n FROM live_app_counts WHERE workspace_id = $1', [p.workspaceId])
      : !appConds.length
        ? await this.db.query<{ n: number }>(
            `SELECT count(DISTINCT c.app_id)::int AS n FROM cvms c WHERE c.workspace_id = $1 AND c.deleted_at IS NULL AND ${cvmConds.join(' AND ')}`,
            args,
          )
        : await this.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM apps a WHERE ${where}`, args);
    const total = count.n;
    const offset = (page - 1) * pageSize;
    if (offset >= total) return { apps: [], total };
    // the page's app ids come from the apps_live index, read from the nearer end, then only they are joined
    const fromEnd = offset > total / 2;
    const order = fromEnd ? 'a.created_at ASC, a.app_id ASC' : 'a.created_at DESC, a.app_id DESC';
    const limit = fromEnd ? Math.min(pageSize, total - offset) : pageSize;
    const skip = fromEnd ? Math.max(0, total - offset - pageSize) : offset;
    const ids = (await this.db.query<{ app_id: string }>(`SELECT a.app_id FROM apps a WHERE ${where} ORDER BY ${order} LIMIT ${arg(limit)} OFFSET ${arg(skip)}`, args)).map(
      (r) => r.app_id,
    );
    if (fromEnd) ids.reverse();
    const [rows, cvms] = await Promise.all([
      this.db.query<AppRecord>(
        `SELECT a.app_id, a.name, a.created_at, k.kms_type FROM apps a JOIN kms_instances k ON k.id = a.kms_id WHERE a.app_id = ANY($1::text[])`,
        [ids],
      ),
      listCvmsOfApps(this.db, p.workspaceId, ids),
    ]);
    const byId = new Map(rows.map((r) => [r.app_id, r]));
    return {
      apps: ids.flatMap((id) => {
        const app = byId.get(id);
        return app ? [{ app, cvms: cvms.filter((c) => c.app_id === id) }] : [];
      }),
      total,
    };
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
    const rows = await this.db.query<CvmStateRecord>(
      `SELECT ${STATE_COLUMNS}
         FROM cvms c LEFT JOIN operations o ON o.cvm_id = c.id AND o.state IN ('pending', 'running')
        WHERE c.workspace_id = $1 AND c.deleted_at IS NULL AND c.vm_uuid = ANY($2::uuid[])`,
      [p.workspaceId, [...byUuid.keys()]],
    );
    for (const r of rows) for (const sent of byUuid.get(r.vm_uuid) ?? []) out.set(sent, r);
    return out;
  }

  /**
   * The state columns of one CVM by internal id, deleted or not (`deleted_at` set means it is gone):
   * what the SSE watch polls after resolving the CVM once.
   */
  async stateById(workspaceId: number, cvmId: number): Promise<(CvmStateRecord & { deleted: boolean }) | null> {
    const rows = await this.db.query<CvmStateRecord & { deleted: boolean }>(
      `SELECT ${STATE_COLUMNS}, c.deleted_at IS NOT NULL AS deleted
         FROM cvms c LEFT JOIN operations o ON o.cvm_id = c.id AND o.state IN ('pending', 'running')
        WHERE c.id = $1 AND c.workspace_id = $2`,
      [cvmId, workspaceId],
    );
    return rows[0] ?? null;
  }

  async userConfig(cvmId: number): Promise<string | null> {
    const rows = await this.db.query<{ user_config: string | null }>('SELECT user_config FROM cvms WHERE id = $1', [cvmId]);
    return rows[0]?.user_config ?? null;
  }

  /** Every node with its images and what the live CVMs placed on it reserve (as the scheduler counts it). */
  async nodeUsage(onlineOnly: boolean): Promise<NodeUsage[]> {
    const [nodes, images, usage] = await Promise.all([
      this.db.query<NodeRow>(`SELECT * FROM nodes ${onlineOnly ? `WHERE status = 'online'` : ''} ORDER BY id`),
      this.db.query<NodeImageRow>('SELECT * FROM node_images ORDER BY name'),
      this.db.query<{ node_id: number; cvms: number; vcpu: number; memory_mb: number; disk_gb: number }>(
        `SELECT node_id, count(*)::int AS cvms, coalesce(sum(vcpu), 0)::int AS vcpu, coalesce(sum(memory_mb), 0)::int AS memory_mb,
                coalesce(sum(disk_gb), 0)::int AS disk_gb
           FROM cvms WHERE deleted_at IS NULL GROUP BY node_id`,
      ),
    ]);
    const used = new Map(usage.map((u) => [u.node_id, u]));
    return nodes.map((node) => ({
      node,
      images: images.filter((i) => i.node_id === node.id),
      used: used.get(node.id) ?? { cvms: 0, vcpu: 0, memory_mb: 0, disk_gb: 0 },
    }));
  }

  async kmsList(): Promise<KmsRecord[]> {
    return this.db.query<KmsRecord>('SELECT * FROM kms_instances ORDER BY created_at, id');
  }

  /** The workspaces the caller's user is a member of, by id, after `afterId`. */
  async workspaces(p: Principal, afterId: number, limit: number): Promise<{ items: WorkspaceRecord[]; total: number }> {
    const [items, count] = await Promise.all([
      this.db.query<WorkspaceRecord>(
        `SELECT w.id, w.name, w.slug, w.tier, m.role, w.created_at
           FROM workspace_members m JOIN workspaces w ON w.id = m.workspace_id
          WHERE m.user_id = $1 AND w.id > $2 ORDER BY w.id LIMIT $3`,
        [p.userId, afterId, limit],
      ),
      this.db.query<{ n: number }>('SELECT count(*)::int AS n FROM workspace_members WHERE user_id = $1', [p.userId]),
    ]);
    return { items, total: count[0].n };
  }

  /** A workspace the caller's user is a member of, by slug; 404 for any other (unknown or not a member). */
  async workspace(p: Principal, slug: string): Promise<WorkspaceRecord> {
    const rows = await this.db.query<WorkspaceRecord>(
      `SELECT w.id, w.name, w.slug, w.tier, m.role, w.created_at
         FROM workspace_members m JOIN workspaces w ON w.id = m.workspace_id
        WHERE m.user_id = $1 AND w.slug = $2`,
      [p.userId, slug],
    );
    if (!rows.length) {
      throw notFound(ErrorCodes.WORKSPACE_NOT_FOUND, `Workspace "${slug}" was not found among yours: list them with GET /workspaces.`);
    }
    return rows[0];
  }
}
