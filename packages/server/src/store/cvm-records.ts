/**
 * The `cvms` row as the operation worker reads and writes it: what a VM is created from, and what the
 * host said about it (host VM id, boot and shutdown progress, instance id, status).
 */
import type { Queryable } from '../db/index.ts';
import type { CvmRow } from './cvms.ts';

/** What the worker reads of a CVM (`COLUMNS`). */
export type CvmRecord = Pick<
  CvmRow,
  | 'id' | 'vm_uuid' | 'name' | 'status' | 'node_id' | 'host_vm_id' | 'app_id' | 'image' | 'app_compose' | 'vcpu' | 'memory_mb'
  | 'disk_gb' | 'encrypted_env' | 'user_config' | 'ports' | 'gpus' | 'hugepages' | 'pin_numa' | 'shutdown_timeout_s' | 'allow_force_stop'
>;

const COLUMNS = `id, vm_uuid, name, status, node_id, host_vm_id, app_id, image, app_compose, vcpu, memory_mb, disk_gb, encrypted_env,
  user_config, ports, gpus, hugepages, pin_numa, shutdown_timeout_s, allow_force_stop`;

export async function readCvmRecord(q: Queryable, id: number): Promise<CvmRecord> {
  const [row] = await q.query<CvmRecord>(`SELECT ${COLUMNS} FROM cvms WHERE id = $1`, [id]);
  if (!row) throw new Error(`CVM ${id} vanished`);
  return row;
}

/** The host's id of the VM just created for the CVM (recorded before the VM can ask the KMS for keys). */
export async function setHostVmId(q: Queryable, id: number, hostVmId: string): Promise<void> {
  await q.query('UPDATE cvms SET host_vm_id = $2, updated_at = now() WHERE id = $1', [id, hostVmId]);
}

/** The VM was removed to be created again (a new instance id): no host VM, no instance id, starting. */
export async function forgetHostVm(q: Queryable, id: number): Promise<void> {
  await q.query(
    `UPDATE cvms SET host_vm_id = NULL, instance_id = NULL, status = 'starting', runtime = NULL, updated_at = now() WHERE id = $1`,
    [id],
  );
}

/** A boot starts again: the previous one's error and exit time no longer apply. */
export async function clearBootOutcome(q: Queryable, id: number): Promise<void> {
  await q.query('UPDATE cvms SET boot_error = NULL, exited_at = NULL, updated_at = now() WHERE id = $1', [id]);
}

export interface HostProgress {
  boot_progress: string | null;
  /** '' or null: none */
  boot_error: string | null;
  /** '' or null: none */
  shutdown_progress: string | null;
  /** '' or null: keep the recorded one */
  instance_id: string | null;
}

/** Copy a VM's progress as its host reports it onto the CVM. */
export async function recordProgress(q: Queryable, id: number, p: HostProgress): Promise<void> {
  await q.query(
    `UPDATE cvms SET boot_progress = $2, boot_error = nullif($3, ''), shutdown_progress = nullif($4, ''),
            instance_id = coalesce(nullif($5, ''), instance_id), updated_at = now() WHERE id = $1`,
    [id, p.boot_progress, p.boot_error ?? '', p.shutdown_progress ?? '', p.instance_id ?? ''],
  );
}

/**
 * A boot reached `done`: the CVM is `running` and its operation ends at step `done`, succeeded, or failed with
 * `failWith` (a refused update that booted the previous configuration again). One statement, so both
 * change together without a transaction's extra round trips (every boot ends here). With `owner`, only while
 * the operation is still leased to that worker: false, and nothing written, if another took it over.
 */
export async function recordBootDone(q: Queryable, cvmId: number, operationId: number, failWith?: string, owner?: number | null): Promise<boolean> {
  const rows = await q.query(
    `WITH o AS (UPDATE operations SET state = CASE WHEN $3::text IS NULL THEN 'succeeded' ELSE 'failed' END, step = 'done', error = $3,
                       finished_at = now()
                 WHERE id = $2 AND ($4::bigint IS NULL OR (lease_owner = $4 AND state = 'running'))
                 RETURNING id)
     UPDATE cvms SET status = 'running', started_at = now(), updated_at = now()
      WHERE id = $1 AND EXISTS (SELECT 1 FROM o)
      RETURNING id`,
    [cvmId, operationId, failWith ?? null, owner ?? null],
  );
  return rows.length > 0;
}

/** The VM stopped; the CVM shows `status` (stopped, or the phase of a longer operation: restarting, updating). */
export async function recordHalted(q: Queryable, id: number, status: string): Promise<void> {
  await q.query(
    `UPDATE cvms SET status = $2, boot_progress = NULL, boot_error = NULL, shutdown_progress = NULL,
            started_at = NULL, exited_at = now(), runtime = NULL, updated_at = now() WHERE id = $1`,
    [id, status],
  );
}

/** The VM is gone from its host: the record is retired (the name is free) and its secrets dropped. */
export async function recordDeleted(q: Queryable, id: number): Promise<void> {
  await q.query(
    `UPDATE cvms SET status = 'deleted', deleted_at = now(), encrypted_env = NULL, user_config = NULL, runtime = NULL,
            boot_progress = NULL, shutdown_progress = NULL, updated_at = now() WHERE id = $1`,
    [id],
  );
}

export async function setStatus(q: Queryable, id: number, status: string): Promise<void> {
  await q.query('UPDATE cvms SET status = $2, updated_at = now() WHERE id = $1', [id, status]);
}

/** A boot failed: `exited` (or `error` if no VM was ever created), the first boot error kept. */
export async function recordBootFailure(q: Queryable, id: number, message: string): Promise<void> {
  await q.query(
    `UPDATE cvms SET status = CASE WHEN host_vm_id IS NULL THEN 'error' ELSE 'exited' END,
            boot_error = coalesce(boot_error, $2), exited_at = now(), updated_at = now() WHERE id = $1`,
    [id, message],
  );
}
