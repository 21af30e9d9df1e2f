/**
 * Apps: the `apps` table. An app is an app id (PHALA KMS: a CREATE address of the workspace's deployer and a
 * nonce) and what its first CVM was called; its CVMs (the first one, replicas) all run it.
 */
import type { AppRecord } from '@opencvm/core';
import type { Queryable } from '../db/index.ts';
import type { KmsRow } from './kms.ts';

/** An `apps` row. */
export interface AppRow {
  /** 40 lowercase hex */
  app_id: string;
  workspace_id: number;
  name: string;
  kms_id: string;
  /** X25519, hex; derived by the KMS, cached here */
  env_pubkey: string | null;
  nonce: number | null;
  contract_address: string | null;
  deployer_address: string | null;
  created_at: Date;
  /** live (not deleted) CVMs of the app, kept by a trigger on `cvms` */
  live_cvms: number;
}

/**
 * Record an app (nothing if its app id is on record already, whatever its workspace); answers the workspace
 * the app id belongs to. A new app is one round trip; an app on record already is read by a second statement,
 * which sees it even if another transaction recorded it while this one waited.
 */
export async function insertApp(
  q: Queryable,
  a: Pick<AppRow, 'app_id' | 'workspace_id' | 'name' | 'kms_id' | 'env_pubkey' | 'nonce' | 'contract_address' | 'deployer_address'>,
): Promise<number | null> {
  const [row] = await q.query<Pick<AppRow, 'workspace_id'>>(
    `INSERT INTO apps (app_id, workspace_id, name, kms_id, env_pubkey, nonce, contract_address, deployer_address)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (app_id) DO NOTHING RETURNING workspace_id`,
    [a.app_id, a.workspace_id, a.name, a.kms_id, a.env_pubkey, a.nonce, a.contract_address, a.deployer_address],
  );
  return row ? row.workspace_id : appWorkspaceId(q, a.app_id);
}

/** The workspace an app belongs to. */
export async function appWorkspaceId(q: Queryable, appId: string): Promise<number | null> {
  const [row] = await q.query<Pick<AppRow, 'workspace_id'>>('SELECT workspace_id FROM apps WHERE app_id = $1', [appId]);
  return row?.workspace_id ?? null;
}

/** Whether an app id is taken: an app has it, or a committed provision reserved it. */
export async function isAppIdTaken(q: Queryable, appId: string): Promise<boolean> {
  const used = await q.query('SELECT 1 FROM apps WHERE app_id = $1 UNION ALL SELECT 1 FROM provisions WHERE app_id = $1 AND committed_at IS NOT NULL', [appId]);
  return used.length > 0;
}

/** An app's name (what its first CVM was called). */
export async function appName(q: Queryable, appId: string): Promise<string | null> {
  const [app] = await q.query<Pick<AppRow, 'name'>>('SELECT name FROM apps WHERE app_id = $1', [appId]);
  return app?.name ?? null;
}

/** Whether the app belongs to the workspace. */
export async function isAppOfWorkspace(q: Queryable, appId: string, workspaceId: number): Promise<boolean> {
  const rows = await q.query('SELECT 1 FROM apps WHERE app_id = $1 AND workspace_id = $2', [appId, workspaceId]);
  return rows.length > 0;
}

// ---- reads (`GET /apps`, `GET /apps/{app_id}`) ----

/** An app of a workspace by its (normalised) app id, as its shapes need it, or null: another workspace's app is not found. */
export async function findApp(q: Queryable, workspaceId: number, appId: string): Promise<AppRecord | null> {
  const [row] = await q.query<AppRecord>(
    `SELECT a.app_id, a.name, a.created_at, k.kms_type FROM apps a JOIN kms_instances k ON k.id = a.kms_id
      WHERE a.app_id = $1 AND a.workspace_id = $2`,
    [appId, workspaceId],
  );
  return row ?? null;
}

/** Some apps as their shapes need them (in no particular order). */
export function appRecords(q: Queryable, appIds: string[]): Promise<AppRecord[]> {
  return q.query<AppRecord>(
    `SELECT a.app_id, a.name, a.created_at, k.kms_type FROM apps a JOIN kms_instances k ON k.id = a.kms_id WHERE a.app_id = ANY($1::text[])`,
    [appIds],
  );
}

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

/**
 * One page of the apps of a workspace that have a live CVM (`apps.live_cvms`, kept by a trigger) matching the
 * filter, newest app first: their ids, and how many apps match in all. CVM-level filters (status, listed,
 * image, instance type, node, region) need one of the app's live CVMs to match them all; a search matches
 * the app's name or id, or one of its live CVMs' name, vm_uuid or instance id.
 */
export async function listAppPage(
  q: Queryable,
  workspaceId: number,
  f: AppListFilter,
  page: { limit: number; offset: number },
): Promise<{ ids: string[]; total: number }> {
  const args: unknown[] = [workspaceId];
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
    ? await q.query<{ n: number }>('SELECT coalesce(max(n), 0)::int AS n FROM live_app_counts WHERE workspace_id = $1', [workspaceId])
    : !appConds.length
      ? await q.query<{ n: number }>(
          `SELECT count(DISTINCT c.app_id)::int AS n FROM cvms c WHERE c.workspace_id = $1 AND c.deleted_at IS NULL AND ${cvmConds.join(' AND ')}`,
          args,
        )
      : await q.query<{ n: number }>(`SELECT count(*)::int AS n FROM apps a WHERE ${where}`, args);
  const total = count.n;
  if (page.offset >= total) return { ids: [], total };
  // the page's app ids come from the apps_live index, read from the nearer end, then only they are joined
  const fromEnd = page.offset > total / 2;
  const order = fromEnd ? 'a.created_at ASC, a.app_id ASC' : 'a.created_at DESC, a.app_id DESC';
  const limit = fromEnd ? Math.min(page.limit, total - page.offset) : page.limit;
  const skip = fromEnd ? Math.max(0, total - page.offset - page.limit) : page.offset;
  const ids = (await q.query<Pick<AppRow, 'app_id'>>(`SELECT a.app_id FROM apps a WHERE ${where} ORDER BY ${order} LIMIT ${arg(limit)} OFFSET ${arg(skip)}`, args)).map(
    (r) => r.app_id,
  );
  if (fromEnd) ids.reverse();
  return { ids, total };
}

/** The values the filters of `GET /apps` can take in a workspace (`GET /apps/filter-options`), each list distinct and sorted. */
export interface AppFilterOptions {
  statuses: string[];
  image_versions: string[];
  instance_types: string[];
  kms_slugs: string[];
  kms_types: string[];
  regions: string[];
  nodes: string[];
}

/**
 * The distinct statuses, images, instance types, KMS slugs and types, regions and host names of a workspace's
 * live CVMs (the CVMs `GET /apps` lists and filters): one statement over the workspace's CVMs (`cvms_workspace`).
 */
export async function appFilterOptions(q: Queryable, workspaceId: number): Promise<AppFilterOptions> {
  const [row] = await q.query<AppFilterOptions>(
    `WITH live AS (
       SELECT c.status, c.image, c.instance_type, c.node_id, a.kms_id FROM cvms c JOIN apps a ON a.app_id = c.app_id
        WHERE c.workspace_id = $1 AND c.deleted_at IS NULL
     ), ks AS (SELECT k.slug, k.kms_type FROM kms_instances k WHERE k.id IN (SELECT kms_id FROM live)),
     ns AS (SELECT n.name, n.region FROM nodes n WHERE n.id IN (SELECT node_id FROM live))
     SELECT ARRAY(SELECT DISTINCT status FROM live ORDER BY 1) AS statuses,
            ARRAY(SELECT DISTINCT image FROM live ORDER BY 1) AS image_versions,
            ARRAY(SELECT DISTINCT instance_type FROM live WHERE instance_type IS NOT NULL ORDER BY 1) AS instance_types,
            ARRAY(SELECT DISTINCT slug FROM ks WHERE slug IS NOT NULL ORDER BY 1) AS kms_slugs,
            ARRAY(SELECT DISTINCT kms_type FROM ks ORDER BY 1) AS kms_types,
            ARRAY(SELECT DISTINCT region FROM ns ORDER BY 1) AS regions,
            ARRAY(SELECT DISTINCT name FROM ns ORDER BY 1) AS nodes`,
    [workspaceId],
  );
  return row;
}

// ---- allow-lists (`/apps/{app_id}/device-allowlist`, the `is-allowed` checks) ----

/** The KMS an app takes its keys from (its chain and KMS contract, for an on-chain one). */
export async function kmsOfApp(q: Queryable, appId: string): Promise<KmsRow | null> {
  const [k] = await q.query<KmsRow>('SELECT k.* FROM apps a JOIN kms_instances k ON k.id = a.kms_id WHERE a.app_id = $1', [appId]);
  return k ?? null;
}

/**
 * Whether an app has run or been provisioned with a compose hash: a revision of the app (its first deploy is
 * one), a live CVM of it, or an unused and unexpired compose-file provision or prepared update of one of its CVMs.
 */
export async function appHasComposeHash(q: Queryable, appId: string, composeHash: string): Promise<boolean> {
  const rows = await q.query(
    `SELECT 1 FROM revisions WHERE app_id = $1 AND compose_hash = $2
     UNION ALL SELECT 1 FROM cvms WHERE app_id = $1 AND compose_hash = $2 AND deleted_at IS NULL
     UNION ALL SELECT 1 FROM pending_updates p JOIN cvms c ON c.id = p.cvm_id
                WHERE c.app_id = $1 AND p.compose_hash = $2 AND p.used_at IS NULL AND p.expires_at > now()
     LIMIT 1`,
    [appId, composeHash],
  );
  return rows.length > 0;
}
