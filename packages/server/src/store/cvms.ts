/**
 * CVMs: the `cvms` table. Reading them, one query returns everything the response shapes need, always
 * scoped to a workspace (`findCvm`, the list pages); the rest are the rows, locks and writes services use.
 */
import { ErrorCodes, notFound, type CvmRef, type CvmStateRecord, type CvmView, type KmsRecord, type RuntimeSnapshot } from '@opencvm/core';
import type { Queryable } from '../db/index.ts';
import type { VmConfiguration } from '../hosts/vmm-client.ts';

/** A `cvms` row. */
export interface CvmRow {
  id: number;
  vm_uuid: string;
  workspace_id: number;
  creator_id: number | null;
  app_id: string;
  name: string;
  status: string;
  node_id: number;
  /** the host's id of the CVM's VM, once the host created it */
  host_vm_id: string | null;
  kms_id: string;
  instance_type: string | null;
  vcpu: number;
  memory_mb: number;
  disk_gb: number;
  image: string;
  compose_hash: string;
  /** the exact hashed text */
  app_compose: string;
  encrypted_env: string | null;
  env_keys: string[];
  user_config: string | null;
  ports: VmConfiguration['ports'];
  gpus: VmConfiguration['gpus'] | null;
  /** the host GPU slots the CVM holds (generated from `gpus`) */
  gpu_slots: string[];
  hugepages: boolean;
  pin_numa: boolean;
  listed: boolean;
  instance_id: string | null;
  boot_progress: string | null;
  boot_error: string | null;
  shutdown_progress: string | null;
  started_at: Date | null;
  exited_at: Date | null;
  created_at: Date;
  updated_at: Date;
  deleted_at: Date | null;
  /** the guest's last reported runtime state (the runtime reconciler's) */
  runtime: RuntimeSnapshot | null;
  /** the CVM this one replicates, if any */
  source_cvm_id: number | null;
  /**
   * what its owner asked for last: `running` (deploy, replica, start, restart) or `stopped` (stop, shutdown),
   * set by a trigger on the operation's insert (`011_reconciler.sql`); the reconciler brings the host back to it
   */
  desired_state: 'running' | 'stopped';
  /** recovery operations the reconciler queued since the CVM last booted (or its owner asked for a boot) */
  recovery_attempts: number;
  /** when the reconciler may queue the next recovery (its backoff); null while none is scheduled */
  recover_after: Date | null;
  shutdown_timeout_s: number | null;
  allow_force_stop: boolean;
  /** when the CVM is to be deleted (`PATCH /cvms/{id}/scheduled-delete`); cleared when the delete is queued */
  scheduled_delete_at: Date | null;
}

const SELECT_VIEW = `
SELECT c.id, c.vm_uuid, c.name, c.status, c.app_id, c.instance_id, c.instance_type, c.vcpu, c.memory_mb, c.disk_gb,
       c.image, c.compose_hash, c.app_compose, c.listed, c.boot_progress, c.boot_error, c.shutdown_progress,
       c.started_at, c.exited_at, c.created_at, c.updated_at, c.scheduled_delete_at,
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
export async function lockLiveCvm(q: Queryable, cvm: Pick<CvmView, 'id' | 'name'>): Promise<Pick<CvmRow, 'id' | 'status' | 'host_vm_id'>> {
  const [row] = await q.query<Pick<CvmRow, 'id' | 'status' | 'host_vm_id'>>(
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
    scheduled_delete_at: r.scheduled_delete_at ?? null,
    progress: r.op_kind
      ? { kind: r.op_kind, target: r.op_target, started_at: r.op_started_at, correlation_id: r.op_correlation_id }
      : null,
  };
}

// ---- lists (`GET /cvms/paginated`, apps): the same SELECT, a page at a time ----

/** the timestamp columns of SELECT_VIEW: JSON carries them as ISO strings, the view has them as Dates */
const VIEW_DATES = ['started_at', 'exited_at', 'created_at', 'updated_at', 'scheduled_delete_at', 'op_started_at'] as const;

/**
 * The rows of SELECT_VIEW that `where` selects, newest first, as one JSON document (`json_agg`, one text
 * column). A page is 50 rows of some 50 columns: the driver decodes each of those 2 500 values on its own,
 * which costs more than running the query; one JSON.parse does not.
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

/**
 * One page of a workspace's live CVMs, newest first, and how many there are in all. The total is a sum over
 * the trigger-kept `cvm_counts` rows (migration 004), never a count of the CVMs. The page is one statement:
 * its ids come from an index-only scan of `cvms_workspace` ((workspace_id, id DESC) where not deleted) with
 * LIMIT/OFFSET, read from the nearer end (a page past the middle is read oldest-first), and only those rows
 * are read, by primary key, and returned as one JSON document.
 *
 * Each filter combination is a statement of its own: one generic plan for all of them
 * (`$2 IS NULL OR node_id = $2`) cannot skip the heap, and PostgreSQL uses one after five runs of a prepared
 * statement (postgres.ts prepares every statement).
 */
export async function listCvmPage(
  q: Queryable,
  workspaceId: number,
  filter: CvmListFilter,
  page: { limit: number; offset: number },
): Promise<{ items: CvmView[]; total: number }> {
  const args: number[] = [workspaceId];
  let conds = '';
  for (const [column, value] of [['node_id', filter.nodeId], ['creator_id', filter.creatorId]] as const) {
    if (value === undefined) continue;
    conds += ` AND ${column} = $${args.push(value)}`;
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
  return { items: viewsOf((await q.query<{ j: string | null }>(sql, args))[0].j), total };
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

// ---- the state reads (`/cvms/{id}/state`, `/status/batch`): a light query, polled by the SSE watch ----

const STATE_COLUMNS = `c.name, c.status, c.vm_uuid, c.instance_id, c.boot_progress, c.boot_error, c.shutdown_progress,
       c.started_at, c.exited_at, o.kind AS op_kind, o.created_at AS op_started_at, o.correlation_id AS op_correlation_id`;

/** The state of the live CVMs of a workspace among `vmUuids` (normalised uuids). */
export function cvmStatesByUuid(q: Queryable, workspaceId: number, vmUuids: string[]): Promise<CvmStateRecord[]> {
  return q.query<CvmStateRecord>(
    `SELECT ${STATE_COLUMNS}
       FROM cvms c LEFT JOIN operations o ON o.cvm_id = c.id AND o.state IN ('pending', 'running')
      WHERE c.workspace_id = $1 AND c.deleted_at IS NULL AND c.vm_uuid = ANY($2::uuid[])`,
    [workspaceId, vmUuids],
  );
}

/** A CVM's state read by internal id, with its workspace (what a watch of it may see) and whether it is deleted. */
export type CvmStateById = CvmStateRecord & { id: number; workspace_id: number; deleted: boolean };

/** The state of each CVM among `ids` that exists (deleted or not), whatever its workspace: one query. */
export function cvmStatesByIds(q: Queryable, ids: number[]): Promise<CvmStateById[]> {
  return q.query<CvmStateById>(
    `SELECT c.id, c.workspace_id, ${STATE_COLUMNS}, c.deleted_at IS NOT NULL AS deleted
       FROM cvms c LEFT JOIN operations o ON o.cvm_id = c.id AND o.state IN ('pending', 'running')
      WHERE c.id = ANY($1::bigint[])`,
    [ids],
  );
}

/**
 * The channel `008_state_notify.sql`'s triggers notify, with a CVM's internal id as the payload, when what
 * its state shows changes (committed transactions only).
 */
export const CVM_STATE_CHANNEL = 'cvm_state';

/** Subscribe `session` (a connection of its own) to the CVM state changes. */
export async function listenForCvmStates(session: Queryable): Promise<void> {
  await session.query(`LISTEN ${CVM_STATE_CHANNEL}`);
}

export async function cvmUserConfig(q: Queryable, cvmId: number): Promise<string | null> {
  const [row] = await q.query<Pick<CvmRow, 'user_config'>>('SELECT user_config FROM cvms WHERE id = $1', [cvmId]);
  return row?.user_config ?? null;
}

// ---- rows, locks and writes ----

/** A CVM's row by internal id, whatever its workspace or state. */
export async function readCvmRow(q: Queryable, id: number): Promise<CvmRow | null> {
  const [row] = await q.query<CvmRow>('SELECT * FROM cvms WHERE id = $1', [id]);
  return row ?? null;
}

/** Whether a live CVM of the workspace has this name. */
export async function isCvmNameTaken(q: Queryable, workspaceId: number, name: string): Promise<boolean> {
  const taken = await q.query('SELECT 1 FROM cvms WHERE workspace_id = $1 AND name = $2 AND deleted_at IS NULL', [workspaceId, name]);
  return taken.length > 0;
}

/** The `cvms_name_unique` index refused a second live CVM of that name in the workspace (SQLSTATE 23505). */
export function isNameUniqueViolation(e: unknown): boolean {
  return (e as { code?: string }).code === '23505' && String((e as Error).message).includes('cvms_name_unique');
}

export type NewCvm = Pick<
  CvmRow,
  | 'vm_uuid' | 'workspace_id' | 'creator_id' | 'app_id' | 'name' | 'node_id' | 'kms_id' | 'instance_type' | 'vcpu' | 'memory_mb'
  | 'disk_gb' | 'image' | 'compose_hash' | 'app_compose' | 'encrypted_env' | 'env_keys' | 'user_config' | 'ports' | 'gpus'
  | 'hugepages' | 'pin_numa' | 'listed'
>;

/** What a commit records besides the CVM: its `create` operation, its first revision, the provision it used. */
export interface CommitRecords {
  /** the operation's correlation id */
  correlation_id: string;
  /** `rev_<16 hex>` */
  revision_id: string;
  /** the user who asked (the revision's `triggered_by`) */
  triggered_by: number;
  /** the provision, marked committed */
  provision_id: number;
}

/**
 * A commit's writes, in one statement: the new CVM (`starting`), the pending `create` operation that boots
 * it, the revision `create` recording its configuration (as `recordRevision` does, from the CVM's row), and
 * the provision marked committed; and the lock on the CVM's node (`FOR NO KEY UPDATE`, held until the
 * transaction ends), which every change that reserves the node's capacity takes before it checks it. The
 * caller checks the node's room in its next statement, which sees every CVM committed before the lock was
 * granted, and rolls back if there is none. So the node's lock, which every commit to the node queues for, is
 * held for two round trips (that check and the commit), and the counters the `cvms` triggers keep for two.
 */
export async function insertCommittedCvm(q: Queryable, c: NewCvm, r: CommitRecords): Promise<{ cvm_id: number; operation_id: number }> {
  const [row] = await q.query<{ cvm_id: number; operation_id: number }>(
    `WITH c AS (
       INSERT INTO cvms (vm_uuid, workspace_id, creator_id, app_id, name, status, node_id, kms_id, instance_type, vcpu,
                         memory_mb, disk_gb, image, compose_hash, app_compose, encrypted_env, env_keys, user_config,
                         ports, gpus, hugepages, pin_numa, listed)
       VALUES ($1,$2,$3,$4,$5,'starting',$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22)
       RETURNING id, workspace_id, app_id, compose_hash, app_compose, encrypted_env, env_keys, user_config),
     o AS (
       INSERT INTO operations (correlation_id, workspace_id, cvm_id, kind, target_status, state, params)
       SELECT $23, c.workspace_id, c.id, 'create', 'running', 'pending', jsonb_build_object('triggered_by', $25::bigint) FROM c
       RETURNING id, cvm_id, correlation_id),
     r AS (
       INSERT INTO revisions (revision_id, workspace_id, app_id, cvm_id, compose_hash, app_compose, encrypted_env, env_keys,
                              user_config, operation_type, operation_id, correlation_id, triggered_by)
       SELECT $24, c.workspace_id, c.app_id, c.id, c.compose_hash, c.app_compose, c.encrypted_env, c.env_keys, c.user_config,
              'create', o.id, o.correlation_id, $25
         FROM c JOIN o ON o.cvm_id = c.id),
     p AS (UPDATE provisions SET committed_at = now() WHERE id = $26),
     n AS (SELECT id FROM nodes WHERE id = $6 FOR NO KEY UPDATE)
     SELECT c.id AS cvm_id, o.id AS operation_id FROM c JOIN o ON o.cvm_id = c.id CROSS JOIN n`,
    [
      c.vm_uuid, c.workspace_id, c.creator_id, c.app_id, c.name, c.node_id, c.kms_id, c.instance_type, c.vcpu,
      c.memory_mb, c.disk_gb, c.image, c.compose_hash, c.app_compose, c.encrypted_env,
      JSON.stringify(c.env_keys), c.user_config, JSON.stringify(c.ports),
      c.gpus ? JSON.stringify(c.gpus) : null, c.hugepages, c.pin_numa, c.listed,
      r.correlation_id, r.revision_id, r.triggered_by, r.provision_id,
    ],
  );
  return row;
}

/** The GPU slots a CVM recorded in this transaction gets after all (dstack-vmm's `gpus`, what CreateVm is sent). */
export async function setCommittedCvmGpus(q: Queryable, cvmId: number, gpus: CvmRow['gpus']): Promise<void> {
  await q.query('UPDATE cvms SET gpus = $2::jsonb WHERE id = $1', [cvmId, gpus ? JSON.stringify(gpus) : null]);
}

/**
 * A new CVM copied from `source_cvm_id` (same app, configuration and workspace), `starting`, on `node_id`
 * with the GPU slots `gpus` (its own: a GPU slot is never shared); `encrypted_env` null keeps the source's sealed env.
 */
export async function insertReplica(
  q: Queryable,
  r: Pick<CvmRow, 'vm_uuid' | 'creator_id' | 'name' | 'node_id' | 'encrypted_env' | 'gpus'> & { source_cvm_id: number },
): Promise<number> {
  const [row] = await q.query<Pick<CvmRow, 'id'>>(
    `INSERT INTO cvms (vm_uuid, workspace_id, creator_id, app_id, name, status, node_id, kms_id, instance_type, vcpu,
                       memory_mb, disk_gb, image, compose_hash, app_compose, encrypted_env, env_keys, user_config,
                       ports, gpus, hugepages, pin_numa, listed, source_cvm_id)
     SELECT $1, workspace_id, $2, app_id, $3, 'starting', $4, kms_id, instance_type, vcpu, memory_mb, disk_gb, image,
            compose_hash, app_compose, coalesce($5, encrypted_env), env_keys, user_config, ports, $7::jsonb, hugepages,
            pin_numa, listed, id
       FROM cvms WHERE id = $6 RETURNING id`,
    [r.vm_uuid, r.creator_id, r.name, r.node_id, r.encrypted_env, r.source_cvm_id, r.gpus ? JSON.stringify(r.gpus) : null],
  );
  return row.id;
}

export async function setCvmStatus(q: Queryable, id: number, status: string): Promise<void> {
  await q.query('UPDATE cvms SET status = $2, updated_at = now() WHERE id = $1', [id, status]);
}

/** The live CVM whose VM on this node has this host VM id (what the KMS checks a guest against). */
/** What `GetAppKey` checks a guest's claims against: its CVM on that host, the CVM's KMS type and the host's device id. */
export type CvmOnHost = Pick<CvmRow, 'app_id' | 'compose_hash' | 'kms_id'> & { kms_type: KmsRecord['kms_type']; device_id: string };

export async function cvmOnHost(q: Queryable, nodeId: number, hostVmId: string): Promise<CvmOnHost | null> {
  const [row] = await q.query<CvmOnHost>(
    `SELECT c.app_id, c.compose_hash, c.kms_id, k.kms_type, n.device_id FROM cvms c
       JOIN kms_instances k ON k.id = c.kms_id
       JOIN nodes n ON n.id = c.node_id
      WHERE c.node_id = $1 AND c.host_vm_id = $2 AND c.deleted_at IS NULL`,
    [nodeId, hostVmId],
  );
  return row ?? null;
}

// ---- instance ids ----

/** What the instance-id calls read of a CVM. */
export type CvmInstanceRef = Pick<CvmRow, 'id' | 'vm_uuid' | 'name' | 'status' | 'node_id' | 'host_vm_id' | 'instance_id'>;

const INSTANCE_REF = 'c.id, c.vm_uuid::text AS vm_uuid, c.name, c.status, c.node_id, c.host_vm_id, c.instance_id';

/** A CVM by internal id; `lock` takes its row (`FOR UPDATE`) until the transaction ends. */
export async function readInstanceRef(q: Queryable, id: number, opts: { lock?: boolean } = {}): Promise<CvmInstanceRef> {
  const [row] = await q.query<CvmInstanceRef>(`SELECT ${INSTANCE_REF} FROM cvms c WHERE c.id = $1${opts.lock ? ' FOR UPDATE' : ''}`, [id]);
  return row;
}

/** Which of a workspace's live CVMs a batch selects: only running ones, only those without an instance id. */
export interface InstanceRefFilter {
  runningOnly?: boolean;
  missingOnly?: boolean;
}

const instanceRefWhere = (f: InstanceRefFilter) =>
  `c.workspace_id = $1 AND c.deleted_at IS NULL${f.runningOnly ? ` AND c.status = 'running'` : ''}${f.missingOnly ? ' AND c.instance_id IS NULL' : ''}`;

export async function countInstanceRefs(q: Queryable, workspaceId: number, f: InstanceRefFilter): Promise<number> {
  const [count] = await q.query<{ n: number }>(`SELECT count(*)::int AS n FROM cvms c WHERE ${instanceRefWhere(f)}`, [workspaceId]);
  return count.n;
}

/** The first `limit` of a workspace's live CVMs the filter selects, by id. */
export function listInstanceRefs(q: Queryable, workspaceId: number, f: InstanceRefFilter, limit: number): Promise<CvmInstanceRef[]> {
  return q.query<CvmInstanceRef>(`SELECT ${INSTANCE_REF} FROM cvms c WHERE ${instanceRefWhere(f)} ORDER BY c.id LIMIT $2`, [workspaceId, limit]);
}

/** The CVM's old instance id stops naming it: none recorded, and it shows `status` until its VM boots again. */
export async function dropInstanceId(q: Queryable, id: number, status: string): Promise<void> {
  await q.query('UPDATE cvms SET status = $2, instance_id = NULL, updated_at = now() WHERE id = $1', [id, status]);
}

export async function setInstanceId(q: Queryable, id: number, instanceId: string): Promise<void> {
  await q.query('UPDATE cvms SET instance_id = $2, updated_at = now() WHERE id = $1', [id, instanceId]);
}

/** Another live CVM (than `cvmId`) that has this instance id on record, whatever its workspace. */
export async function instanceIdHolder(
  q: Queryable,
  instanceId: string,
  cvmId: number,
): Promise<Pick<CvmRow, 'name' | 'vm_uuid' | 'workspace_id'> | null> {
  const [other] = await q.query<Pick<CvmRow, 'name' | 'vm_uuid' | 'workspace_id'>>(
    `SELECT name, vm_uuid::text AS vm_uuid, workspace_id FROM cvms WHERE instance_id = $1 AND id <> $2 AND deleted_at IS NULL LIMIT 1`,
    [instanceId, cvmId],
  );
  return other ?? null;
}

/**
 * Take the transaction-scoped advisory lock of an instance id: instance ids are global, so concurrent
 * writers of the same id take turns (and a holder check made under the lock holds).
 */
export async function lockInstanceId(q: Queryable, instanceId: string): Promise<void> {
  await q.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`instance_id:${instanceId}`]);
}

// ---- the smaller CVM operations: a new name, a scheduled delete ----

/** Rename a live CVM (the `cvms_name_unique` index refuses a name a live CVM of the workspace has). */
export async function renameCvm(q: Queryable, id: number, name: string): Promise<void> {
  await q.query('UPDATE cvms SET name = $2, updated_at = now() WHERE id = $1 AND deleted_at IS NULL', [id, name]);
}

/** Set (or, with null, clear) when a live CVM is to be deleted. */
export async function setScheduledDelete(q: Queryable, id: number, at: Date | null): Promise<void> {
  await q.query('UPDATE cvms SET scheduled_delete_at = $2, updated_at = now() WHERE id = $1 AND deleted_at IS NULL', [id, at]);
}

/**
 * One live CVM whose scheduled delete is due (by the database's clock) and that has no operation in progress,
 * its row locked (`FOR UPDATE SKIP LOCKED`: a CVM another replica or a request holds is left for the next
 * tick); null when there is none. `after`: only CVMs with a larger id (one pass goes over each once).
 */
export async function lockDueScheduledDelete(q: Queryable, after: number): Promise<Pick<CvmRow, 'id' | 'workspace_id' | 'name' | 'scheduled_delete_at'> | null> {
  const [row] = await q.query<Pick<CvmRow, 'id' | 'workspace_id' | 'name' | 'scheduled_delete_at'>>(
    `SELECT c.id, c.workspace_id, c.name, c.scheduled_delete_at FROM cvms c
      WHERE c.scheduled_delete_at <= now() AND c.deleted_at IS NULL AND c.id > $1
        AND NOT EXISTS (SELECT 1 FROM operations o WHERE o.cvm_id = c.id AND o.state IN ('pending', 'running'))
      ORDER BY c.id LIMIT 1 FOR UPDATE OF c SKIP LOCKED`,
    [after],
  );
  return row ?? null;
}
