/**
 * dstack hosts ("nodes", "teepods" in Phala's words) and the OS images each can boot: the `nodes` and
 * `node_images` tables, and what the live CVMs placed on a node reserve of it (placement's usage).
 */
import type { Queryable } from '../db/index.ts';

/** A `nodes` row. */
export interface NodeRow {
  id: number;
  name: string;
  url: string;
  /** bearer token for the host's pRPC API, as earlier versions stored it (sealed into `auth_token_sealed` at start) */
  auth_token: string | null;
  /** bearer token for the host's pRPC API, sealed with the server's seal key (`services/seal.ts`) */
  auth_token_sealed: string | null;
  /** SHA-256 of the token the host's guests present to the KMS */
  kms_token_hash: string | null;
  region: string;
  device_id: string;
  ppid: string;
  fmspc: string;
  gateway_base_domain: string | null;
  max_cvms: number;
  max_vcpu: number;
  max_memory_mb: number;
  listed: boolean;
  status: string;
  version: string | null;
  created_at: Date;
  /** no new placements while set */
  cordoned: boolean;
  labels: Record<string, string>;
  max_disk_gb: number;
  gpus: NodeGpu[];
  dev: boolean;
  onchain_kms: boolean;
  /** what the operator set, which wins over what the host reports */
  overrides: NodeOverrides;
  /** `config` (OPENCVM_HOSTS, the simulated host) or `admin` (the admin API) */
  source: 'config' | 'admin';
  refreshed_at: Date | null;
  removed_at: Date | null;
  /** since when the reconciler has found the host `unreachable` (null otherwise) */
  unreachable_since: Date | null;
  /** the last error of an `unreachable` host's reads */
  last_error: string | null;
}

/** A GPU of a host, as dstack-vmm's `ListGpus` names it. */
export interface NodeGpu {
  slot: string;
  product_id: string;
  description: string;
}

/** The values an operator gave that win over the host's own at every refresh. */
export interface NodeOverrides {
  max_vcpu?: number;
  max_memory_mb?: number;
  max_cvms?: number;
  gpus?: NodeGpu[];
  device_id?: string;
  /** the region the operator set through the admin API (wins over OPENCVM_HOSTS' at each start) */
  region?: string;
}

/** GPUs a CVM asks for: one entry per GPU (a slot, a product id, or neither: any free GPU), or all of a host's. */
export interface GpuRequest {
  want: { slot?: string | null; product_id?: string | null }[];
  /** dstack-vmm's `attach_mode: "all"`: every GPU of the host, none of them taken */
  all?: boolean;
}

/** A `node_images` row. */
export interface NodeImageRow {
  node_id: number;
  name: string;
  version: string;
  is_dev: boolean;
  requires_gpu: boolean;
  os_image_hash: string | null;
}

/** What the live CVMs placed on a node reserve of it. */
export interface NodeUsageRow {
  node_id: number;
  cvms: number;
  vcpu: number;
  memory_mb: number;
  disk_gb: number;
  /** the GPU slots they hold */
  gpu_slots?: string[];
  /** the app placement asked about, and how many of the node's live CVMs are of it (placement's reads only) */
  app_id?: string | null;
  app_cvms?: number;
}

// ---------------------------------------------------------------- nodes

/** What a host says about itself when it registers (GetMeta, ListGpus, Version) plus how it is reached. */
export type NodeRegistration = Pick<
  NodeRow,
  'name' | 'url' | 'auth_token_sealed' | 'kms_token_hash' | 'device_id' | 'ppid' | 'gateway_base_domain' | 'max_cvms' | 'max_vcpu' | 'max_memory_mb' | 'gpus' | 'version'
> & { region: string | null };

/**
 * Insert the node, or refresh it by name (the configuration path: OPENCVM_HOSTS, the simulated host); it is
 * `online` either way. What the operator set through the admin API (`overrides`, region, labels, cordon)
 * stays; a region is only changed when one is given.
 */
export async function upsertNode(q: Queryable, n: NodeRegistration): Promise<NodeRow> {
  const [node] = await q.query<NodeRow>(
    `INSERT INTO nodes (name, url, auth_token_sealed, kms_token_hash, region, device_id, ppid, fmspc, gateway_base_domain,
                        max_cvms, max_vcpu, max_memory_mb, gpus, status, version, refreshed_at)
     VALUES ($1, $2, $3, $4, coalesce($5, 'local'), $6, $7, '00906ED50000', $8, $9, $10, $11, $12::jsonb, 'online', $13, now())
     ON CONFLICT (name) WHERE removed_at IS NULL DO UPDATE SET url = EXCLUDED.url, auth_token = NULL,
       auth_token_sealed = EXCLUDED.auth_token_sealed, kms_token_hash = EXCLUDED.kms_token_hash,
       region = coalesce(nodes.overrides->>'region', $5, nodes.region), device_id = coalesce(nodes.overrides->>'device_id', EXCLUDED.device_id),
       gateway_base_domain = EXCLUDED.gateway_base_domain,
       max_cvms = coalesce((nodes.overrides->>'max_cvms')::int, EXCLUDED.max_cvms),
       max_vcpu = coalesce((nodes.overrides->>'max_vcpu')::int, EXCLUDED.max_vcpu),
       max_memory_mb = coalesce((nodes.overrides->>'max_memory_mb')::int, EXCLUDED.max_memory_mb),
       gpus = coalesce(nodes.overrides->'gpus', EXCLUDED.gpus), status = 'online', unreachable_since = NULL, last_error = NULL,
       version = EXCLUDED.version, refreshed_at = now()
     RETURNING *`,
    [n.name, n.url, n.auth_token_sealed, n.kms_token_hash, n.region, n.device_id, n.ppid, n.gateway_base_domain, n.max_cvms, n.max_vcpu, n.max_memory_mb, JSON.stringify(n.gpus), n.version],
  );
  return node;
}

/** A host added through the admin API: everything the operator gave and the host reported, `online`. */
export type NewHost = NodeRegistration &
  Pick<NodeRow, 'labels' | 'max_disk_gb' | 'dev' | 'onchain_kms' | 'overrides'> & { region: string };

/** Insert a host the admin API adds (its name is free: the caller holds `lockNodeName` and checked). */
export async function insertHost(q: Queryable, n: NewHost): Promise<NodeRow> {
  const [node] = await q.query<NodeRow>(
    `INSERT INTO nodes (name, url, auth_token_sealed, kms_token_hash, region, device_id, ppid, fmspc, gateway_base_domain,
                        max_cvms, max_vcpu, max_memory_mb, gpus, status, version, refreshed_at,
                        labels, max_disk_gb, dev, onchain_kms, overrides, source)
     VALUES ($1, $2, $3, $4, $5, $6, $7, '00906ED50000', $8, $9, $10, $11, $12::jsonb, 'online', $13, now(),
             $14::jsonb, $15, $16, $17, $18::jsonb, 'admin')
     RETURNING *`,
    [n.name, n.url, n.auth_token_sealed, n.kms_token_hash, n.region, n.device_id, n.ppid, n.gateway_base_domain, n.max_cvms, n.max_vcpu,
      n.max_memory_mb, JSON.stringify(n.gpus), n.version, JSON.stringify(n.labels), n.max_disk_gb, n.dev, n.onchain_kms, JSON.stringify(n.overrides)],
  );
  return node;
}

/** What a refresh reads from the host again (the operator's overrides still win); the host is `online`. */
export type HostFacts = Pick<NodeRow, 'gateway_base_domain' | 'max_cvms' | 'max_vcpu' | 'max_memory_mb' | 'gpus' | 'version'>;

export async function refreshHostFacts(q: Queryable, id: number, f: HostFacts): Promise<NodeRow> {
  const [node] = await q.query<NodeRow>(
    `UPDATE nodes SET gateway_base_domain = $2,
       max_cvms = coalesce((overrides->>'max_cvms')::int, $3), max_vcpu = coalesce((overrides->>'max_vcpu')::int, $4),
       max_memory_mb = coalesce((overrides->>'max_memory_mb')::int, $5), gpus = coalesce(overrides->'gpus', $6::jsonb),
       version = $7, status = 'online', unreachable_since = NULL, last_error = NULL, refreshed_at = now()
     WHERE id = $1 RETURNING *`,
    [id, f.gateway_base_domain, f.max_cvms, f.max_vcpu, f.max_memory_mb, JSON.stringify(f.gpus), f.version],
  );
  return node;
}

/** What `PATCH /api/v1/admin/hosts/{host}` writes: the host's row as it is to be (the caller computed it with the row locked). */
export type HostChange = Pick<
  NodeRow,
  | 'url' | 'auth_token' | 'auth_token_sealed' | 'kms_token_hash' | 'region' | 'labels' | 'dev' | 'onchain_kms' | 'device_id'
  | 'max_vcpu' | 'max_memory_mb' | 'max_cvms' | 'max_disk_gb' | 'gpus' | 'overrides' | 'gateway_base_domain' | 'version'
> & {
  /** the host was asked just now (a new URL or auth token, an operator's value dropped): `online`, `refreshed_at` now */
  refreshed: boolean;
};

export async function updateHost(q: Queryable, id: number, h: HostChange): Promise<NodeRow> {
  const [node] = await q.query<NodeRow>(
    `UPDATE nodes SET url = $2, auth_token = $3, auth_token_sealed = $4, kms_token_hash = $5, region = $6, labels = $7::jsonb,
       dev = $8, onchain_kms = $9, device_id = $10, max_vcpu = $11, max_memory_mb = $12, max_cvms = $13, max_disk_gb = $14,
       gpus = $15::jsonb, overrides = $16::jsonb, gateway_base_domain = $17, version = $18,
       status = CASE WHEN $19 THEN 'online' ELSE status END, refreshed_at = CASE WHEN $19 THEN now() ELSE refreshed_at END
     WHERE id = $1 RETURNING *`,
    [id, h.url, h.auth_token, h.auth_token_sealed, h.kms_token_hash, h.region, JSON.stringify(h.labels), h.dev, h.onchain_kms, h.device_id,
      h.max_vcpu, h.max_memory_mb, h.max_cvms, h.max_disk_gb, JSON.stringify(h.gpus), JSON.stringify(h.overrides), h.gateway_base_domain,
      h.version, h.refreshed],
  );
  return node;
}

/**
 * Take the transaction-scoped lock of a host URL, so that two adds (or changes) naming the same URL take turns
 * and the second sees the first. `url` as `sameHostUrl` gives it.
 */
export async function lockNodeUrl(q: Queryable, url: string): Promise<void> {
  await q.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`node-url:${url}`]);
}

/** The live host at a URL (compared without a trailing `/`), but for `except`. */
export async function liveNodeAtUrl(q: Queryable, url: string, except?: number): Promise<Pick<NodeRow, 'id' | 'name'> | null> {
  const [n] = await q.query<Pick<NodeRow, 'id' | 'name'>>(
    `SELECT id::int AS id, name FROM nodes WHERE removed_at IS NULL AND rtrim(url, '/') = rtrim($1, '/') AND ($2::bigint IS NULL OR id <> $2) LIMIT 1`,
    [url, except ?? null],
  );
  return n ?? null;
}

/** What the live CVMs placed on one node reserve of it (zeros if none). */
export async function usageOfNode(q: Queryable, nodeId: number): Promise<NodeUsageRow> {
  const [u] = await q.query<NodeUsageRow>(
    `SELECT $1::bigint::int AS node_id, count(*)::int AS cvms, coalesce(sum(vcpu), 0)::int AS vcpu, coalesce(sum(memory_mb), 0)::int AS memory_mb,
            coalesce(sum(disk_gb), 0)::int AS disk_gb
       FROM cvms WHERE node_id = $1 AND deleted_at IS NULL`,
    [nodeId],
  );
  return u;
}

/** Cordon or uncordon a live host; null if there is none with that id. */
export async function setNodeCordoned(q: Queryable, id: number, cordoned: boolean): Promise<NodeRow | null> {
  const [node] = await q.query<NodeRow>('UPDATE nodes SET cordoned = $2 WHERE id = $1 AND removed_at IS NULL RETURNING *', [id, cordoned]);
  return node ?? null;
}

/**
 * Remove a host: its row stays for the history of the CVMs it ran, its name is free again, its guests' KMS
 * token and its auth token are forgotten, and its images are dropped (no placement sees it).
 */
export async function markNodeRemoved(q: Queryable, id: number): Promise<NodeRow> {
  const [node] = await q.query<NodeRow>(
    `UPDATE nodes SET removed_at = now(), status = 'removed', cordoned = true, kms_token_hash = NULL, auth_token = NULL, auth_token_sealed = NULL
      WHERE id = $1 RETURNING *`,
    [id],
  );
  await q.query('DELETE FROM node_images WHERE node_id = $1', [id]);
  return node;
}

/** A live host by id, or by name; locked (NO KEY UPDATE) with `lock`. */
export async function findLiveNode(q: Queryable, ref: { id: number } | { name: string }, lock = false): Promise<NodeRow | null> {
  const [n] = await q.query<NodeRow>(
    `SELECT * FROM nodes WHERE removed_at IS NULL AND ${'id' in ref ? 'id = $1' : 'name = $1'}${lock ? ' FOR NO KEY UPDATE' : ''}`,
    ['id' in ref ? ref.id : ref.name],
  );
  return n ?? null;
}

/** The rows whose auth token is still plaintext (written by an earlier version). */
export function nodesWithPlainAuthToken(q: Queryable): Promise<Pick<NodeRow, 'id' | 'auth_token'>[]> {
  return q.query<Pick<NodeRow, 'id' | 'auth_token'>>('SELECT id, auth_token FROM nodes WHERE auth_token IS NOT NULL');
}

/** Replace a row's plaintext auth token by its sealed form (only if it is still the one read). */
export async function sealNodeAuthToken(q: Queryable, id: number, plain: string, sealed: string): Promise<void> {
  await q.query('UPDATE nodes SET auth_token_sealed = $3, auth_token = NULL WHERE id = $1 AND auth_token = $2', [id, plain, sealed]);
}

/** The live CVMs placed on a node (what a drain reports, and what keeps a host from being removed). */
export interface NodeCvmRow {
  id: number;
  name: string;
  app_id: string;
  vm_uuid: string;
  status: string;
  workspace_id: number;
}

export function liveCvmsOfNode(q: Queryable, nodeId: number): Promise<NodeCvmRow[]> {
  return q.query<NodeCvmRow>(
    `SELECT id::int AS id, name, app_id, vm_uuid, status, workspace_id::int AS workspace_id FROM cvms
      WHERE node_id = $1 AND deleted_at IS NULL ORDER BY id`,
    [nodeId],
  );
}

/**
 * Take the transaction-scoped lock of a node name, so that two servers registering the same name do it one
 * after the other (the second sees what the first wrote).
 */
export async function lockNodeName(q: Queryable, name: string): Promise<void> {
  await q.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`node:${name}`]);
}

export async function findNodeByName(q: Queryable, name: string): Promise<Pick<NodeRow, 'id' | 'url' | 'auth_token' | 'auth_token_sealed' | 'source'> | null> {
  const [n] = await q.query<Pick<NodeRow, 'id' | 'url' | 'auth_token' | 'auth_token_sealed' | 'source'>>(
    'SELECT id, url, auth_token, auth_token_sealed, source FROM nodes WHERE name = $1 AND removed_at IS NULL',
    [name],
  );
  return n ?? null;
}

export async function markNodeOffline(q: Queryable, name: string): Promise<void> {
  await q.query(`UPDATE nodes SET status = 'offline' WHERE name = $1 AND removed_at IS NULL`, [name]);
}

export async function findNode(q: Queryable, id: number): Promise<NodeRow | null> {
  const [n] = await q.query<NodeRow>('SELECT * FROM nodes WHERE id = $1', [id]);
  return n ?? null;
}

/** Every node not removed (or only the online ones that take new CVMs: not cordoned), by id. */
export function listNodes(q: Queryable, opts: { onlineOnly?: boolean } = {}): Promise<NodeRow[]> {
  return q.query<NodeRow>(`SELECT * FROM nodes WHERE removed_at IS NULL ${opts.onlineOnly ? `AND status = 'online' AND NOT cordoned ` : ''}ORDER BY id`);
}

/** The id of the node whose guests present the KMS token with this hash. */
export async function nodeIdByKmsTokenHash(q: Queryable, hash: string): Promise<number | null> {
  const [n] = await q.query<Pick<NodeRow, 'id'>>('SELECT id FROM nodes WHERE kms_token_hash = $1 AND removed_at IS NULL', [hash]);
  return n?.id ?? null;
}

/**
 * Lock a node's row (NO KEY UPDATE) until the transaction ends, so that two changes that reserve its
 * capacity take turns; answers what the capacity checks need.
 */
export async function lockNode(q: Queryable, id: number): Promise<Pick<NodeRow, 'id' | 'name' | 'max_vcpu' | 'max_memory_mb' | 'max_disk_gb'> | null> {
  const [n] = await q.query<Pick<NodeRow, 'id' | 'name' | 'max_vcpu' | 'max_memory_mb' | 'max_disk_gb'>>(
    'SELECT id, name, max_vcpu, max_memory_mb, max_disk_gb FROM nodes WHERE id = $1 FOR NO KEY UPDATE',
    [id],
  );
  return n ?? null;
}

// ---------------------------------------------------------------- node images

/** Every node's images, by name then node. */
export function listNodeImages(q: Queryable): Promise<NodeImageRow[]> {
  return q.query<NodeImageRow>('SELECT * FROM node_images ORDER BY name, node_id');
}

/** One node's images, by name. */
export function imagesOfNode(q: Queryable, nodeId: number): Promise<NodeImageRow[]> {
  return q.query<NodeImageRow>('SELECT * FROM node_images WHERE node_id = $1 ORDER BY name', [nodeId]);
}

/** One node's images without a GPU requirement (in no particular order). */
export function cpuImagesOfNode(q: Queryable, nodeId: number): Promise<Omit<NodeImageRow, 'node_id' | 'requires_gpu'>[]> {
  return q.query<Omit<NodeImageRow, 'node_id' | 'requires_gpu'>>(
    `SELECT name, version, is_dev, os_image_hash FROM node_images WHERE node_id = $1 AND requires_gpu = false`,
    [nodeId],
  );
}

/** Replace what a node can boot (its images as it listed them at registration). */
export async function replaceNodeImages(q: Queryable, nodeId: number, images: Omit<NodeImageRow, 'node_id'>[]): Promise<void> {
  await q.query('DELETE FROM node_images WHERE node_id = $1', [nodeId]);
  for (const img of images) {
    await q.query(
      `INSERT INTO node_images (node_id, name, version, is_dev, requires_gpu, os_image_hash) VALUES ($1, $2, $3, $4, $5, $6)`,
      [nodeId, img.name, img.version, img.is_dev, img.requires_gpu, img.os_image_hash],
    );
  }
}

/** The OS images any node has, once per name (`isDev` keeps only dev or only production ones), by name. */
export function listOsImages(q: Queryable, isDev?: boolean): Promise<Omit<NodeImageRow, 'node_id'>[]> {
  return q.query<Omit<NodeImageRow, 'node_id'>>(
    `SELECT DISTINCT ON (name) name, version, os_image_hash, is_dev, requires_gpu FROM node_images
      WHERE ($1::boolean IS NULL OR is_dev = $1) ORDER BY name`,
    [isDev ?? null],
  );
}

// ---------------------------------------------------------------- capacity in use

/** Per node that has live CVMs: how many, the vCPUs, memory and disk they reserve, and the GPU slots they hold. */
export function nodeUsage(q: Queryable): Promise<(NodeUsageRow & { gpu_slots: string[] })[]> {
  return q.query<NodeUsageRow & { gpu_slots: string[] }>(
    `SELECT node_id, count(*)::int AS cvms, coalesce(sum(vcpu), 0)::int AS vcpu, coalesce(sum(memory_mb), 0)::int AS memory_mb,
            coalesce(sum(disk_gb), 0)::int AS disk_gb,
            jsonb_path_query_array(coalesce(jsonb_agg(gpu_slots) FILTER (WHERE gpu_slots <> '[]'), '[]'), '$[*][*]') AS gpu_slots
       FROM cvms WHERE deleted_at IS NULL GROUP BY node_id`,
  );
}

/** What placement weighs: the online nodes (by id; cordoned ones too, which placement names when it skips them), every node's images (by name, then node) and each node's usage. */
export interface PlacementSnapshot {
  nodes: NodeRow[];
  images: NodeImageRow[];
  usage: NodeUsageRow[];
}

/** One node's usage as placement reads it: totals, GPU slots held, and the CVMs of app `$<app>` among them. */
const USAGE_COLUMNS = (app: string) =>
  `count(*)::int AS cvms, coalesce(sum(vcpu), 0)::int AS vcpu, coalesce(sum(memory_mb), 0)::int AS memory_mb,
   coalesce(sum(disk_gb), 0)::int AS disk_gb, jsonb_path_query_array(coalesce(jsonb_agg(gpu_slots) FILTER (WHERE gpu_slots <> '[]'), '[]'), '$[*][*]') AS gpu_slots,
   ${app}::text AS app_id, (count(*) FILTER (WHERE app_id = ${app}))::int AS app_cvms`;

/**
 * The select list of `placementSnapshot`: `$<p.usageOf>` the node whose usage is wanted (NULL: every node's),
 * `$<p.except>` a CVM left out of it, `$<p.app>` the app whose CVMs are counted per node (spreading):
 * `nodes`, `images`, `usage` as JSON arrays. Shared with the statements that read more along with it.
 */
export const placementColumns = (p: { usageOf: number; except?: number; app?: number }) =>
  `(SELECT coalesce(json_agg(n ORDER BY n.id), '[]') FROM nodes n WHERE n.status = 'online' AND n.removed_at IS NULL) AS nodes,
   (SELECT coalesce(json_agg(i ORDER BY i.name, i.node_id), '[]') FROM node_images i) AS images,
   (SELECT coalesce(json_agg(u), '[]') FROM (
      SELECT node_id, ${USAGE_COLUMNS(p.app ? `$${p.app}` : 'NULL')}
        FROM cvms WHERE deleted_at IS NULL AND ($${p.usageOf}::bigint IS NULL OR node_id = $${p.usageOf})
                        ${p.except ? `AND ($${p.except}::bigint IS NULL OR id <> $${p.except})` : ''}
       GROUP BY node_id) u) AS usage`;

/** A row with `placementColumns`, as the statement answers it. */
export type PlacementColumns = { nodes: (Omit<NodeRow, 'created_at'> & { created_at: string })[]; images: NodeImageRow[]; usage: NodeUsageRow[] };

/** `placementColumns` of a row, typed. */
export function placementOf(row: PlacementColumns): PlacementSnapshot {
  return { nodes: row.nodes.map((n) => ({ ...n, created_at: new Date(n.created_at) })), images: row.images, usage: row.usage };
}

/**
 * `listNodes({ onlineOnly })`, `listNodeImages` and `nodeUsage` in one statement (one round trip instead of
 * three on a deploy's path). `usageOf` limits the usage to one node; `except` leaves one CVM out of it (one
 * written before its check); `appId` counts that app's CVMs per node (replicas spread).
 */
export async function placementSnapshot(q: Queryable, o: { usageOf?: number; except?: number; appId?: string } = {}): Promise<PlacementSnapshot> {
  const [row] = await q.query<PlacementColumns>(`SELECT ${placementColumns({ usageOf: 1, except: 2, app: 3 })}`, [o.usageOf ?? null, o.except ?? null, o.appId ?? null]);
  return placementOf(row);
}

/**
 * What a commit checks its CVM against, after the statement that recorded it took the node's row lock: the
 * node, the image the CVM boots there (null if the node no longer has it) and what the node's other live CVMs
 * are allocated. One statement.
 */
export async function nodeForCommit(q: Queryable, nodeId: number, exceptCvm: number, image: string): Promise<{ node: NodeRow; image: NodeImageRow | null; usage: NodeUsageRow } | null> {
  const [row] = await q.query<{ node: Omit<NodeRow, 'created_at'> & { created_at: string }; image: NodeImageRow | null; usage: NodeUsageRow }>(
    `SELECT row_to_json(n) AS node,
            (SELECT row_to_json(i) FROM node_images i WHERE i.node_id = n.id AND i.name = $3) AS image,
            (SELECT row_to_json(u) FROM (SELECT n.id AS node_id, ${USAGE_COLUMNS('NULL')} FROM cvms
                                          WHERE node_id = n.id AND deleted_at IS NULL AND id <> $2) u) AS usage
       FROM nodes n WHERE n.id = $1`,
    [nodeId, exceptCvm, image],
  );
  return row ? { node: { ...row.node, created_at: new Date(row.node.created_at) }, image: row.image, usage: row.usage } : null;
}

/** The vCPUs, memory and disk the live CVMs of a node reserve, but for one of them (the one that is resized). */
export async function nodeUsageExcept(q: Queryable, nodeId: number, cvmId: number): Promise<Pick<NodeUsageRow, 'vcpu' | 'memory_mb' | 'disk_gb'>> {
  const [used] = await q.query<Pick<NodeUsageRow, 'vcpu' | 'memory_mb' | 'disk_gb'>>(
    `SELECT coalesce(sum(vcpu), 0)::int AS vcpu, coalesce(sum(memory_mb), 0)::int AS memory_mb, coalesce(sum(disk_gb), 0)::int AS disk_gb
       FROM cvms WHERE node_id = $1 AND deleted_at IS NULL AND id <> $2`,
    [nodeId, cvmId],
  );
  return used;
}

/**
 * The reconciler found the host not answering for several ticks in a row: `unreachable` (placement skips it),
 * with since when and the error. Only an `online` host changes; true if this call changed it (the caller
 * records the event once).
 */
export async function markNodeUnreachable(q: Queryable, id: number, error: string): Promise<boolean> {
  const rows = await q.query(
    `UPDATE nodes SET status = 'unreachable', unreachable_since = now(), last_error = $2
      WHERE id = $1 AND status = 'online' AND removed_at IS NULL RETURNING id`,
    [id, error.slice(0, 500)],
  );
  return rows.length > 0;
}

/** Keep the last error of a host that stays unreachable (written only when it changes). */
export async function recordNodeError(q: Queryable, id: number, error: string): Promise<void> {
  await q.query(`UPDATE nodes SET last_error = $2 WHERE id = $1 AND status = 'unreachable' AND last_error IS DISTINCT FROM $2`, [id, error.slice(0, 500)]);
}

/**
 * The host answered the reconciler again: `online`. Only an `unreachable` or `offline` host changes; answers
 * what it was (and since when it was unreachable) if this call changed it, else null.
 */
export async function markNodeReachable(q: Queryable, id: number): Promise<{ was: string; since: Date | null } | null> {
  const [row] = await q.query<{ was: string; since: Date | null }>(
    `UPDATE nodes n SET status = 'online', unreachable_since = NULL, last_error = NULL
       FROM (SELECT id, status AS was, unreachable_since AS since FROM nodes WHERE id = $1 FOR UPDATE) o
      WHERE n.id = o.id AND n.status IN ('unreachable', 'offline') AND n.removed_at IS NULL
      RETURNING o.was, o.since`,
    [id],
  );
  return row ?? null;
}
