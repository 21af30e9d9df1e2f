/**
 * The runtime reconciler's and the log routes' queries. Every write of the reconciler is a compare-and-set
 * on the row version it read (`xmin`): a row that an operation, a request or the worker changed in the
 * meantime is left alone, and the next tick looks again.
 */
import type { RuntimeSnapshot } from '@opencvm/core';
import type { Queryable } from '../db/index.ts';
import type { CvmRow } from './cvms.ts';

const LAST_TRIED = `coalesce((c.runtime->>'attempted_at')::timestamptz, (c.runtime->>'refreshed_at')::timestamptz)`;
const NO_ACTIVE_OP = `NOT EXISTS (SELECT 1 FROM operations o WHERE o.cvm_id = c.id AND o.state IN ('pending', 'running'))`;

/** A CVM as the reconciler compares it with what its host says and with its desired state. */
export interface HostedCvmRow
  extends Pick<CvmRow, 'id' | 'workspace_id' | 'status' | 'boot_progress' | 'boot_error' | 'shutdown_progress' | 'instance_id' | 'desired_state' | 'recovery_attempts'> {
  /** null: the CVM has no VM on its host (its create failed, or its VM was lost while it was to stay stopped) */
  host_vm_id: string | null;
  /** a recovery is scheduled (`recover_after` set) */
  recovery_scheduled: boolean;
  /** the scheduled recovery is due (`recover_after` passed, by the database clock) */
  recovery_due: boolean;
  /** the row version (`xmin`) the reconciler's writes are conditional on */
  version: string;
}

/**
 * A node's live CVMs with no operation in progress (the worker owns those): those that have a VM on it, and
 * those that should run but have none.
 */
export function idleCvmsOnNode(q: Queryable, nodeId: number): Promise<HostedCvmRow[]> {
  return q.query<HostedCvmRow>(
    `SELECT c.id, c.workspace_id, c.host_vm_id, c.status, c.boot_progress, c.boot_error, c.shutdown_progress, c.instance_id,
            c.desired_state, c.recovery_attempts, c.recover_after IS NOT NULL AS recovery_scheduled,
            coalesce(c.recover_after <= now(), false) AS recovery_due, c.xmin::text AS version
       FROM cvms c
      WHERE c.node_id = $1 AND c.deleted_at IS NULL AND (c.host_vm_id IS NOT NULL OR c.desired_state = 'running') AND ${NO_ACTIVE_OP}`,
    [nodeId],
  );
}

/**
 * What the host's view of a VM sets on its CVM (`instance_id` null: keep the recorded one; `clear_vm`: the
 * CVM records no VM any more, so its next start creates one).
 */
export type HostStatePatch = Pick<CvmRow, 'status' | 'boot_progress' | 'boot_error' | 'shutdown_progress' | 'instance_id'> & { clear_vm?: boolean };

/**
 * Copy what the host says onto an idle CVM, if the row is still the version read. Leaving `running` clears
 * the runtime snapshot (its containers are gone); `stopped` clears `started_at` as a stop operation does.
 * Answers the row's new version, or null if it was not written.
 */
export async function applyHostState(q: Queryable, id: number, version: string, p: HostStatePatch): Promise<string | null> {
  const [row] = await q.query<{ version: string }>(
    `UPDATE cvms c
        SET status = $3, boot_progress = $4, boot_error = $5, shutdown_progress = $6,
            instance_id = coalesce($7, c.instance_id),
            host_vm_id = CASE WHEN $8::boolean THEN NULL ELSE c.host_vm_id END,
            started_at = CASE WHEN $3 = 'running' THEN coalesce(c.started_at, now())
                              WHEN $3 = 'stopped' THEN NULL ELSE c.started_at END,
            exited_at = CASE WHEN $3 IN ('exited', 'stopped', 'error') THEN coalesce(c.exited_at, now())
                             WHEN $3 IN ('running', 'starting') THEN NULL ELSE c.exited_at END,
            runtime = CASE WHEN $3 = 'running' THEN c.runtime END,
            updated_at = now()
      WHERE c.id = $1 AND c.xmin = $2::xid AND c.deleted_at IS NULL AND ${NO_ACTIVE_OP}
      RETURNING c.xmin::text AS version`,
    [id, version, p.status, p.boot_progress, p.boot_error, p.shutdown_progress, p.instance_id, p.clear_vm === true],
  );
  return row?.version ?? null;
}

/** Schedule the next recovery of an idle CVM in `delayMs` (the backoff), if the row is still the version read. */
export async function scheduleRecovery(q: Queryable, id: number, version: string, delayMs: number): Promise<boolean> {
  const rows = await q.query(
    `UPDATE cvms c SET recover_after = now() + $3::int * interval '1 millisecond'
      WHERE c.id = $1 AND c.xmin = $2::xid AND c.deleted_at IS NULL AND c.recover_after IS NULL AND ${NO_ACTIVE_OP}
      RETURNING c.id`,
    [id, version, Math.round(delayMs)],
  );
  return rows.length > 0;
}

/** The CVM is where it should be: forget its recovery count and any scheduled recovery. */
export async function clearRecovery(q: Queryable, id: number): Promise<void> {
  await q.query(
    `UPDATE cvms SET recovery_attempts = 0, recover_after = NULL WHERE id = $1 AND (recovery_attempts > 0 OR recover_after IS NOT NULL)`,
    [id],
  );
}

/**
 * Lock an idle CVM whose scheduled recovery is due, if the row is still the version read and no operation is
 * active (the caller's transaction then queues the recovery); false if any of that no longer holds.
 */
export async function lockDueRecovery(q: Queryable, id: number, version: string): Promise<boolean> {
  const rows = await q.query(
    `SELECT c.id FROM cvms c
      WHERE c.id = $1 AND c.xmin = $2::xid AND c.deleted_at IS NULL AND c.recover_after <= now() AND ${NO_ACTIVE_OP}
      FOR UPDATE`,
    [id, version],
  );
  return rows.length > 0;
}

/**
 * What a CVM shows once a recovery is queued (in the transaction that queues it): `starting`, one more
 * attempt counted, nothing scheduled; `forget_vm`: the VM is to be created again (its record cleared, so the
 * create looks for it by its label first and makes one only if the host has none).
 */
export async function recordRecoveryQueued(q: Queryable, id: number, forgetVm: boolean): Promise<void> {
  await q.query(
    `UPDATE cvms SET status = 'starting', boot_progress = NULL, boot_error = NULL, shutdown_progress = NULL,
            host_vm_id = CASE WHEN $2::boolean THEN NULL ELSE host_vm_id END,
            recovery_attempts = recovery_attempts + 1, recover_after = NULL, exited_at = NULL, updated_at = now()
      WHERE id = $1`,
    [id, forgetVm],
  );
}

/** A running CVM whose runtime snapshot is refreshed from its guest. */
export interface RuntimeTarget extends Pick<CvmRow, 'id' | 'node_id'> {
  host_vm_id: string;
  /** the row version (`xmin`) the snapshot write is conditional on */
  version: string;
}

/**
 * Running, booted, idle CVMs of a node whose snapshot is missing or was last tried more than `maxAgeMs`
 * ago, least recently tried first (a guest that keeps failing waits its turn like the others).
 */
export function staleRuntimes(q: Queryable, nodeId: number, maxAgeMs: number, limit: number): Promise<RuntimeTarget[]> {
  return q.query<RuntimeTarget>(
    `SELECT c.id, c.node_id, c.host_vm_id, c.xmin::text AS version
       FROM cvms c
      WHERE c.node_id = $1 AND c.deleted_at IS NULL AND c.host_vm_id IS NOT NULL
        AND c.status = 'running' AND c.boot_progress = 'done' AND ${NO_ACTIVE_OP}
        AND (c.runtime IS NULL OR ${LAST_TRIED} < now() - make_interval(secs => $2::float8))
      ORDER BY ${LAST_TRIED} NULLS FIRST, c.id
      LIMIT $3`,
    [nodeId, maxAgeMs / 1000, limit],
  );
}

/** One running, booted CVM by id (the worker's post-boot refresh). */
export async function runtimeTarget(q: Queryable, id: number): Promise<RuntimeTarget | null> {
  const [row] = await q.query<RuntimeTarget>(
    `SELECT c.id, c.node_id, c.host_vm_id, c.xmin::text AS version
       FROM cvms c
      WHERE c.id = $1 AND c.deleted_at IS NULL AND c.host_vm_id IS NOT NULL AND c.status = 'running'`,
    [id],
  );
  return row ?? null;
}

/** Store a snapshot (stamped with the database clock) if the CVM is still running and unchanged since read. */
export async function saveRuntime(
  q: Queryable,
  target: RuntimeTarget,
  snapshot: Pick<RuntimeSnapshot, 'containers' | 'sysinfo' | 'network'>,
): Promise<boolean> {
  const rows = await q.query(
    `UPDATE cvms c SET runtime = $3::jsonb || jsonb_build_object('refreshed_at', now(), 'attempted_at', now(), 'error', null)
      WHERE c.id = $1 AND c.xmin = $2::xid AND c.status = 'running' AND c.deleted_at IS NULL
      RETURNING c.id`,
    [target.id, target.version, JSON.stringify(snapshot)],
  );
  return rows.length > 0;
}

/** Record a failed try (the snapshot, if any, stays), so the CVM is tried again only after `maxAgeMs`. */
export async function saveRuntimeFailure(q: Queryable, target: RuntimeTarget, error: string): Promise<void> {
  await q.query(
    `UPDATE cvms c SET runtime = coalesce(c.runtime, '{}'::jsonb) || jsonb_build_object('attempted_at', now(), 'error', $3::text)
      WHERE c.id = $1 AND c.xmin = $2::xid AND c.status = 'running' AND c.deleted_at IS NULL`,
    [target.id, target.version, error.slice(0, 500)],
  );
}

/** The snapshot of one CVM (request path: store only). */
export async function readRuntime(q: Queryable, cvmId: number): Promise<RuntimeSnapshot | null> {
  const [row] = await q.query<Pick<CvmRow, 'runtime'>>('SELECT runtime FROM cvms WHERE id = $1', [cvmId]);
  return row?.runtime ?? null;
}

/** What the log routes need of a CVM. */
export type LogTarget = Pick<CvmRow, 'id' | 'vm_uuid' | 'name' | 'status' | 'node_id' | 'host_vm_id' | 'app_compose'>;

/** A live CVM by vm_uuid, whatever its workspace: the log routes authorise by a signed URL, not a key. */
export async function logTarget(q: Queryable, vmUuid: string): Promise<LogTarget | null> {
  const [row] = await q.query<LogTarget>(
    `SELECT id, vm_uuid, name, status, node_id, host_vm_id, app_compose FROM cvms WHERE vm_uuid = $1::uuid AND deleted_at IS NULL`,
    [vmUuid],
  );
  return row ?? null;
}
