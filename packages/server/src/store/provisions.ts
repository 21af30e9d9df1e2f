/**
 * The first phase of a deploy (`POST /cvms/provision`): the `provisions` table. A provision keeps the
 * validated, hashed app-compose, the node it was placed on and the app id it reserved until the commit
 * (`POST /cvms`) uses it, once, or it expires.
 */
import type { Queryable } from '../db/index.ts';
import type { CvmRow } from './cvms.ts';

/** What a provision carries to the CVM besides its sizes and compose (`provisions.settings`). */
export interface ProvisionSettings {
  ports: CvmRow['ports'];
  gpus: CvmRow['gpus'];
  user_config: string | null;
  hugepages: boolean;
  pin_numa: boolean;
  env_keys: string[];
  encrypted_env: string | null;
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

/**
 * The provision a commit of (workspace, compose hash, app id) is for, its row locked (`FOR UPDATE`) until the
 * transaction ends: an uncommitted one before a committed one, an unexpired one before an expired one, the
 * newest first. A provision without an app id (on-chain KMS) matches any. Whether it may still be
 * committed is the caller's to say.
 */
export async function lockProvisionForCommit(q: Queryable, workspaceId: number, composeHash: string, appId: string): Promise<ProvisionRow | null> {
  const [row] = await q.query<ProvisionRow>(
    `SELECT * FROM provisions WHERE workspace_id = $1 AND compose_hash = $2 AND (app_id = $3 OR app_id IS NULL)
      ORDER BY (committed_at IS NULL) DESC, (expires_at > now()) DESC, id DESC LIMIT 1 FOR UPDATE`,
    [workspaceId, composeHash, appId],
  );
  return row ?? null;
}

export async function markProvisionCommitted(q: Queryable, id: number): Promise<void> {
  await q.query('UPDATE provisions SET committed_at = now() WHERE id = $1', [id]);
}
