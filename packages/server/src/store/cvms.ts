/**
 * Reading CVMs: one query returns everything the response shapes need, always scoped to a workspace.
 */
import { ErrorCodes, notFound, type AppRecord, type CvmRef, type CvmView } from '@opencvm/core';
import type { Db, Queryable } from '../db/index.ts';

const SELECT_VIEW = `
SELECT c.id, c.vm_uuid, c.name, c.status, c.app_id, c.instance_id, c.instance_type, c.vcpu, c.memory_mb, c.disk_gb,
       c.image, c.compose_hash, c.app_compose, c.listed, c.boot_progress, c.boot_error, c.shutdown_progress,
       c.started_at, c.exited_at, c.created_at, c.updated_at,
       w.id AS w_id, w.name AS w_name, w.slug AS w_slug,
       u.id AS u_id, u.username AS u_username,
       n.id AS n_id, n.name AS n_name, n.region AS n_region, n.device_id AS n_device_id, n.ppid AS n_ppid,
       n.fmspc AS n_fmspc, n.status AS n_status, n.version AS n_version, n.gateway_base_domain AS n_gateway,
       k.id AS k_id, k.slug AS k_slug, k.kms_type AS k_type, k.url AS k_url, k.version AS k_version,
       k.chain_id AS k_chain_id, k.kms_contract_address AS k_contract, k.gateway_app_id AS k_gateway_app_id,
       a.env_pubkey, a.contract_address, a.deployer_address,
       i.version AS image_version, i.is_dev AS image_is_dev, i.os_image_hash,
       o.kind AS op_kind, o.target_status AS op_target, o.created_at AS op_started_at, o.correlation_id AS op_correlation_id
  FROM cvms c
  JOIN workspaces w ON w.id = c.workspace_id
  JOIN nodes n ON n.id = c.node_id
  JOIN kms_instances k ON k.id = c.kms_id
  JOIN apps a ON a.app_id = c.app_id
  LEFT JOIN users u ON u.id = c.creator_id
  LEFT JOIN node_images i ON i.node_id = c.node_id AND i.name = c.image
  LEFT JOIN operations o ON o.cvm_id = c.id AND o.state IN ('pending', 'running')`;

const WHERE_REF: Record<CvmRef['kind'], { where: string; order?: string }> = {
  id: { where: 'c.id = $2' },
  uuid: { where: 'c.vm_uuid = $2::uuid' },
  // the SDK sends instance ids as app_<hex> too; an app id match wins, newest CVM first
  app_id: { where: '(c.app_id = $2 OR c.instance_id = $2)', order: '(c.app_id = $2) DESC, c.id DESC' },
  instance_id: { where: 'c.instance_id = $2' },
  name: { where: 'c.name = $2' },
};

/** One CVM of a workspace by any identifier form, or null (another workspace's CVM is not found). */
export async function findCvm(q: Queryable, workspaceId: number, ref: CvmRef): Promise<CvmView | null> {
  const { where, order } = WHERE_REF[ref.kind];
  const rows = await q.query(
    `${SELECT_VIEW} WHERE c.workspace_id = $1 AND c.deleted_at IS NULL AND ${where}${order ? ` ORDER BY ${order}` : ''} LIMIT 1`,
    [workspaceId, ref.value],
  );
  return rows.length ? toView(rows[0]) : null;
}

/**
 * Lock a CVM the request resolved (its row, `FOR UPDATE`) for a change, and read what the change depends on.
 * A CVM deleted since it was resolved is a 404, as if it had never been found.
 */
export async function lockLiveCvm(q: Queryable, cvm: Pick<CvmView, 'id' | 'name'>): Promise<{ id: number; status: string; host_vm_id: string | null }> {
  const [row] = await q.query<{ id: number; status: string; host_vm_id: string | null }>(
    'SELECT id, status, host_vm_id FROM cvms WHERE id = $1 AND deleted_at IS NULL FOR UPDATE',
    [cvm.id],
  );
  if (!row) throw notFound(ErrorCodes.CVM_NOT_FOUND, `CVM ${cvm.name} was deleted.`);
  return row;
}

/** A CVM by its internal id, whatever its workspace (for workers, never for requests). */
export async function findCvmById(q: Queryable, id: number): Promise<CvmView | null> {
  const rows = await q.query(`${SELECT_VIEW} WHERE c.id = $1`, [id]);
  return rows.length ? toView(rows[0]) : null;
}

function toView(r: Record<string, any>): CvmView {
  return {
    id: r.id,
    vm_uuid: r.vm_uuid,
    name: r.name,
    status: r.status,
    app_id: r.app_id,
    instance_id: r.instance_id,
    workspace: { id: r.w_id, name: r.w_name, slug: r.w_slug },
    creator: r.u_id ? { id: r.u_id, username: r.u_username } : null,
    node: {
      id: r.n_id,
      name: r.n_name,
      region: r.n_region,
      device_id: r.n_device_id,
      ppid: r.n_ppid,
      fmspc: r.n_fmspc,
      status: r.n_status,
      version: r.n_version,
      gateway_base_domain: r.n_gateway,
    },
    kms: {
      id: r.k_id,
      slug: r.k_slug,
      kms_type: r.k_type,
      url: r.k_url,
      version: r.k_version,
      chain_id: r.k_chain_id,
      kms_contract_address: r.k_contract,
      gateway_app_id: r.k_gateway_app_id,
    },
    env_pubkey: r.env_pubkey,
    contract_address: r.contract_address,
    deployer_address: r.deployer_address,
    instance_type: r.instance_type,
    vcpu: r.vcpu,
    memory_mb: r.memory_mb,
    disk_gb: r.disk_gb,
    image: r.image,
    image_version: r.image_version ?? null,
    image_is_dev: r.image_is_dev ?? false,
    os_image_hash: r.os_image_hash ?? null,
    compose_hash: r.compose_hash,
    app_compose: r.app_compose,
    listed: r.listed,
    boot_progress: r.boot_progress,
    boot_error: r.boot_error,
    shutdown_progress: r.shutdown_progress,
    started_at: r.started_at,
    exited_at: r.exited_at,
    created_at: r.created_at,
    updated_at: r.updated_at,
    progress: r.op_kind
      ? { kind: r.op_kind, target: r.op_target, started_at: r.op_started_at, correlation_id: r.op_correlation_id }
      : null,
  };
}

// ---- lists (`GET /cvms/paginated`, apps): the same SELECT, a page at a time ----

/** the timestamp columns of SELECT_VIEW: JSON carries them as ISO strings, the view has them as Dates */
const VIEW_DATES = ['started_at', 'exited_at', 'created_at', 'updated_at', 'op_started_at'] as const;

/**
 * The rows of SELECT_VIEW that `where` selects, newest first, as one JSON document (`json_agg`, one text
 * column). A page is 50 rows of some 50 columns: a driver decodes each of those 2 500 values on its own (PGlite
 * copies each into a buffer of its own), which costs more than running the query; one JSON.parse does not.
 */
const viewsJson = (where: string) => `SELECT json_agg(v ORDER BY v.id DESC)::text AS j FROM (${SELECT_VIEW} WHERE ${where}) v`;

/** The views in a `viewsJson` document: same rows, same mapping as `findCvm` (a test compares them). */
function viewsOf(json: string | null): CvmView[] {
  if (!json) return [];
  return (JSON.parse(json) as Record<string, any>[]).map((r) => {
    for (const k of VIEW_DATES) if (r[k] != null) r[k] = new Date(r[k]);
    return toView(r);
  });
}

export interface CvmListFilter {
  nodeId?: number;
  creatorId?: number;
}

/** the statements PGlite has prepared, per database (PREPARE lasts as long as its one session) */
const prepared = new WeakMap<object, Map<string, Promise<void>>>();

/**
 * One page of a workspace's live CVMs, newest first, and how many there are in all. The total is a sum over
 * the trigger-kept `cvm_counts` rows (migration 004), never a count of the CVMs. The page is one statement:
 * its ids come from an index-only scan of `cvms_workspace` ((workspace_id, id DESC) where not deleted) with
 * LIMIT/OFFSET, read from the nearer end (a page past the middle is read oldest-first), and only those rows
 * are read, by primary key, and returned as one JSON document.
 *
 * Each filter combination is a statement of its own: one generic plan for all of them
 * (`$2 IS NULL OR node_id = $2`) cannot skip the heap, and PostgreSQL uses one after five runs of a prepared
 * statement (postgres.ts prepares every statement). PGlite's driver prepares none, and planning the 8-table
 * join costs about as much as running it, so on PGlite the statement is PREPAREd once and EXECUTEd with its
 * arguments (integers, checked) written in.
 */
export async function listCvmPage(
  q: Queryable & { kind?: Db['kind'] },
  workspaceId: number,
  filter: CvmListFilter,
  page: { limit: number; offset: number },
): Promise<{ items: CvmView[]; total: number }> {
  const args: number[] = [workspaceId];
  const types = ['bigint'];
  let conds = '';
  for (const [column, value] of [['node_id', filter.nodeId], ['creator_id', filter.creatorId]] as const) {
    if (value === undefined) continue;
    conds += ` AND ${column} = $${args.push(value)}`;
    types.push('bigint');
  }
  const [count] = await q.query<{ n: number }>(`SELECT coalesce(sum(n), 0)::int AS n FROM cvm_counts WHERE workspace_id = $1${conds}`, args);
  const total = count.n;
  if (page.offset >= total) return { items: [], total };
  const fromEnd = page.offset > total / 2;
  const limit = fromEnd ? Math.min(page.limit, total - page.offset) : page.limit;
  const skip = fromEnd ? Math.max(0, total - page.offset - page.limit) : page.offset;
  const n = args.length;
  const sql = viewsJson(
    `c.id = ANY(ARRAY(SELECT id FROM cvms WHERE workspace_id = $1 AND deleted_at IS NULL${conds}
                      ORDER BY id ${fromEnd ? 'ASC' : 'DESC'} LIMIT $${n + 1} OFFSET $${n + 2}))`,
  );
  args.push(limit, skip);
  types.push('bigint', 'bigint');
  if (q.kind !== 'pglite') return { items: viewsOf((await q.query<{ j: string | null }>(sql, args))[0].j), total };
  if (!args.every(Number.isSafeInteger)) throw new Error(`listCvmPage: integer arguments expected, got ${args.join(', ')}`);
  const name = `cvm_page${filter.nodeId !== undefined ? '_node' : ''}${filter.creatorId !== undefined ? '_creator' : ''}_${fromEnd ? 'asc' : 'desc'}`;
  let statements = prepared.get(q);
  if (!statements) prepared.set(q, (statements = new Map()));
  let ready = statements.get(name);
  if (!ready) {
    ready = q.query(`PREPARE ${name} (${types.join(', ')}) AS ${sql}`).then(() => {});
    statements.set(name, ready);
    ready.catch(() => statements.delete(name));
  }
  await ready;
  return { items: viewsOf((await q.query<{ j: string | null }>(`EXECUTE ${name} (${args.join(', ')})`))[0].j), total };
}

/**
 * The live CVMs of some apps of a workspace, newest first. The rows are found through `cvms_app` (an app's
 * CVMs are all in the app's workspace) and checked against the workspace.
 */
export async function listCvmsOfApps(q: Queryable, workspaceId: number, appIds: string[]): Promise<CvmView[]> {
  if (!appIds.length) return [];
  const [{ j }] = await q.query<{ j: string | null }>(viewsJson('c.app_id = ANY($1::text[]) AND c.deleted_at IS NULL'), [appIds]);
  return viewsOf(j).filter((c) => c.workspace.id === workspaceId);
}

/** An app of a workspace by its (normalised) app id, or null: another workspace's app is not found. */
export async function findApp(q: Queryable, workspaceId: number, appId: string): Promise<AppRecord | null> {
  const [row] = await q.query<AppRecord>(
    `SELECT a.app_id, a.name, a.created_at, k.kms_type FROM apps a JOIN kms_instances k ON k.id = a.kms_id
      WHERE a.app_id = $1 AND a.workspace_id = $2`,
    [appId, workspaceId],
  );
  return row ?? null;
}
