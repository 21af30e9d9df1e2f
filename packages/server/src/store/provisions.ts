/**
 * The first phase of a deploy (`POST /cvms/provision`): the `provisions` table. A provision keeps the
 * validated, hashed app-compose, the node it was placed on and the app id it reserved until the commit
 * (`POST /cvms`) uses it, once, or it expires.
 */
import type { KmsRecord } from '@opencvm/core';
import type { Queryable } from '../db/index.ts';
import type { CvmRow } from './cvms.ts';
import type { KmsRow } from './kms.ts';
import { placementColumns, placementOf, type GpuRequest, type PlacementColumns, type PlacementSnapshot } from './nodes.ts';

/** What a provision carries to the CVM besides its sizes and compose (`provisions.settings`). */
export interface ProvisionSettings {
  ports: CvmRow['ports'];
  gpus: CvmRow['gpus'];
  user_config: string | null;
  hugepages: boolean;
  pin_numa: boolean;
  env_keys: string[];
  encrypted_env: string | null;
  /** what placement was asked at provision, for a commit that places the CVM again (absent in older rows) */
  placement?: {
    /** node_id/teepod_id was given: the CVM goes there or nowhere */
    node_requested: boolean;
    region: string | null;
    labels: Record<string, string> | null;
    gpus: GpuRequest | null;
  };
}

/** A `provisions` row. */
export interface ProvisionRow {
  id: number;
  workspace_id: number;
  user_id: number;
  compose_hash: string;
  /** null for an on-chain KMS until the commit names it */
  app_id: string | null;
  name: string;
  /** the exact bytes that were hashed */
  app_compose: string;
  node_id: number;
  kms_id: string;
  instance_type: string | null;
  vcpu: number;
  memory_mb: number;
  disk_gb: number;
  image: string;
  listed: boolean;
  nonce: number | null;
  settings: ProvisionSettings;
  created_at: Date;
  expires_at: Date;
  committed_at: Date | null;
}

/** What a provision reads before it writes anything (`readProvisionContext`). */
export interface ProvisionContext {
  /** the KMS asked for: by id or slug, else the oldest of the type; null if there is none */
  kms: KmsRow | null;
  placement: PlacementSnapshot;
  /** a live CVM of the workspace has the name already */
  nameTaken: boolean;
}

/**
 * One statement for what a provision checks before it writes: the KMS (`findKmsByIdOrSlug`, or
 * `firstKmsOfType`), placement's snapshot of the nodes (`placementSnapshot`), and whether the name is taken
 * (`isCvmNameTaken`). None of it is locked: the commit checks the name and the node's room again.
 */
export async function readProvisionContext(
  q: Queryable,
  c: { kmsIdOrSlug: string | null; kmsType: string; workspaceId: number; name: string },
): Promise<ProvisionContext> {
  const [row] = await q.query<PlacementColumns & { kms: (Omit<KmsRow, 'created_at'> & { created_at: string }) | null; name_taken: boolean }>(
    `SELECT (SELECT row_to_json(k) FROM kms_instances k
              WHERE CASE WHEN $2::text IS NULL THEN k.kms_type = $3 ELSE k.id = $2 OR k.slug = $2 END
              ORDER BY k.created_at LIMIT 1) AS kms,
            ${placementColumns({ usageOf: 1 })},
            EXISTS (SELECT 1 FROM cvms WHERE workspace_id = $4 AND name = $5 AND deleted_at IS NULL) AS name_taken`,
    [null, c.kmsIdOrSlug, c.kmsType, c.workspaceId, c.name],
  );
  return {
    kms: row.kms ? { ...row.kms, created_at: new Date(row.kms.created_at) } : null,
    placement: placementOf(row),
    nameTaken: row.name_taken,
  };
}

export type NewProvision = Omit<ProvisionRow, 'id' | 'created_at' | 'expires_at' | 'committed_at'>;

/** Keep a provision for `ttlMs` from now (the database's clock). */
export async function insertProvision(q: Queryable, p: NewProvision, ttlMs: number): Promise<void> {
  await q.query(
    `INSERT INTO provisions (workspace_id, user_id, compose_hash, app_id, name, app_compose, node_id, kms_id,
                             instance_type, vcpu, memory_mb, disk_gb, image, listed, nonce, settings, expires_at)
     VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16, now() + ($17 || ' milliseconds')::interval)`,
    [
      p.workspace_id, p.user_id, p.compose_hash, p.app_id, p.name, p.app_compose, p.node_id, p.kms_id,
      p.instance_type, p.vcpu, p.memory_mb, p.disk_gb, p.image, p.listed, p.nonce,
      JSON.stringify(p.settings), String(ttlMs),
    ],
  );
}

/** A provision as a commit reads it: with its KMS's type, and whether a live CVM of its workspace has its name. */
export interface ProvisionForCommit extends ProvisionRow {
  kms_type: string;
  name_taken: boolean;
}

/**
 * The provision a commit of (workspace, compose hash, app id) is for, its row locked (`FOR UPDATE`) until the
 * transaction ends: an uncommitted one before a committed one, an unexpired one before an expired one, the
 * newest first. A provision without an app id (on-chain KMS) matches any. Whether it may still be
 * committed is the caller's to say. One statement answers what the commit checks first: its KMS's type and
 * whether its name is taken by a live CVM of the workspace now (the `cvms_name_unique` index is what
 * guarantees it stays free until the commit inserts the CVM).
 */
export async function lockProvisionForCommit(q: Queryable, workspaceId: number, composeHash: string, appId: string): Promise<ProvisionForCommit | null> {
  const [row] = await q.query<ProvisionForCommit>(
    `SELECT p.*, k.kms_type,
            EXISTS (SELECT 1 FROM cvms c WHERE c.workspace_id = p.workspace_id AND c.name = p.name AND c.deleted_at IS NULL) AS name_taken
       FROM provisions p JOIN kms_instances k ON k.id = p.kms_id
      WHERE p.workspace_id = $1 AND p.compose_hash = $2 AND (p.app_id = $3 OR p.app_id IS NULL)
      ORDER BY (p.committed_at IS NULL) DESC, (p.expires_at > now()) DESC, p.id DESC LIMIT 1 FOR UPDATE OF p`,
    [workspaceId, composeHash, appId],
  );
  return row ?? null;
}

/** What a commit of an on-chain KMS app checks on the chain before its transaction: the KMS and the node's device. */
export interface ProvisionChainContext {
  id: number;
  kms: KmsRecord;
  node_id: number;
  device_id: string;
}

/**
 * The provision a commit of (workspace, compose hash, app id) is for, as `lockProvisionForCommit` picks it, with
 * its KMS record and its node's device id; not locked (read before the chain is asked, outside the transaction).
 */
export async function provisionChainContext(q: Queryable, workspaceId: number, composeHash: string, appId: string): Promise<ProvisionChainContext | null> {
  const [row] = await q.query<ProvisionChainContext>(
    `SELECT p.id, p.node_id, n.device_id,
            json_build_object('id', k.id, 'slug', k.slug, 'kms_type', k.kms_type, 'url', k.url, 'version', k.version, 'chain_id', k.chain_id,
                              'kms_contract_address', k.kms_contract_address, 'gateway_app_id', k.gateway_app_id) AS kms
       FROM provisions p JOIN kms_instances k ON k.id = p.kms_id JOIN nodes n ON n.id = p.node_id
      WHERE p.workspace_id = $1 AND p.compose_hash = $2 AND (p.app_id = $3 OR p.app_id IS NULL)
      ORDER BY (p.committed_at IS NULL) DESC, (p.expires_at > now()) DESC, p.id DESC LIMIT 1`,
    [workspaceId, composeHash, appId],
  );
  return row ?? null;
}
