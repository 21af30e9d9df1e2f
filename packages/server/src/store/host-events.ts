/**
 * `host_events`: what opencvm did on a host on its own (the reconciler removing an orphan VM, …), one row per
 * action, never updated; and the reads the reconciler needs to decide whether a VM it found is an orphan.
 */
import type { Queryable } from '../db/index.ts';
import type { CvmRow } from './cvms.ts';

/** A `host_events` row. */
export interface HostEventRow {
  id: number;
  node_id: number;
  host_vm_id: string | null;
  cvm_id: number | null;
  /** what was done, e.g. `orphan_vm_removed` */
  kind: string;
  /** why, for a person */
  reason: string;
  details: Record<string, unknown>;
  created_at: Date;
}

export type NewHostEvent = Pick<HostEventRow, 'node_id' | 'host_vm_id' | 'cvm_id' | 'kind' | 'reason' | 'details'>;

/** Record an action on a host. */
export async function insertHostEvent(q: Queryable, e: NewHostEvent): Promise<void> {
  await q.query(
    `INSERT INTO host_events (node_id, host_vm_id, cvm_id, kind, reason, details) VALUES ($1, $2, $3, $4, $5, $6::jsonb)`,
    [e.node_id, e.host_vm_id, e.cvm_id, e.kind, e.reason, JSON.stringify(e.details)],
  );
}

/** Whether an event of `kind` is recorded for a VM of a node. */
export async function hasHostEvent(q: Queryable, nodeId: number, hostVmId: string, kind: string): Promise<boolean> {
  const rows = await q.query('SELECT 1 FROM host_events WHERE node_id = $1 AND host_vm_id = $2 AND kind = $3 LIMIT 1', [nodeId, hostVmId, kind]);
  return rows.length > 0;
}

/** A node's events, newest first. */
export function listHostEvents(q: Queryable, nodeId: number, limit: number): Promise<HostEventRow[]> {
  return q.query<HostEventRow>(
    `SELECT id, node_id, host_vm_id, cvm_id, kind, reason, details, created_at FROM host_events
      WHERE node_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2`,
    [nodeId, limit],
  );
}

/** The CVM a host VM's label names, as the reconciler judges ownership by it. */
export interface VmOwnerRow extends Pick<CvmRow, 'id' | 'vm_uuid' | 'node_id' | 'host_vm_id'> {
  deleted: boolean;
  /** an operation is pending or running: it may still record (or be creating) a VM */
  busy: boolean;
}

/** The CVM rows (deleted ones too) of these `vm_uuid`s. */
export function vmOwners(q: Queryable, vmUuids: string[]): Promise<VmOwnerRow[]> {
  return q.query<VmOwnerRow>(
    `SELECT c.id, c.vm_uuid::text AS vm_uuid, c.node_id, c.host_vm_id, c.deleted_at IS NOT NULL AS deleted,
            EXISTS (SELECT 1 FROM operations o WHERE o.cvm_id = c.id AND o.state IN ('pending', 'running')) AS busy
       FROM cvms c
      WHERE c.vm_uuid = ANY($1::uuid[])`,
    [vmUuids],
  );
}
