/**
 * The smaller CVM operations at Phala Cloud's paths: a new name (`PATCH /cvms/{id}/name`), `listed`
 * (`PATCH /cvms/{id}/listed`), a scheduled delete (`PATCH /cvms/{id}/scheduled-delete`, and the reconciler's
 * tick that queues the deletes that are due) and a batch stop (`POST /cvms/batch-stop`). The revision
 * redeploys are configuration updates (`services/updates.ts`).
 *
 * - A new name changes the record only. dstack sets a VM's name at `CreateVm` and has no call to change it, so the
 *   host VM keeps its name (which carries the CVM's `vm_uuid`, what opencvm finds it by) until the VM is created
 *   again (a recovery, an instance-id refresh); the app's compose, which is measured, is not touched either.
 * - `listed` is recorded as a control-plane change (a `succeeded` update operation, no restart). On Phala Cloud it
 *   puts the CVM in public listings; opencvm has no public listing, so it is shown (`listed`) and nothing else.
 * - A scheduled delete is a time in the future (a past one is refused: `DELETE /cvms/{id}` deletes now). Each
 *   reconciler tick, on every replica, queues the delete of each due CVM with no operation in progress, one
 *   transaction per CVM under its row lock (`FOR UPDATE SKIP LOCKED`, so replicas never queue it twice; the
 *   one-active-operation index backs that up), and clears the time in the same transaction: queued once.
 */
import { ApiError, ErrorCodes, MAX_BATCH_STOP, badRequest, conflict, parseCvmRef, type CvmView } from '@opencvm/core';
import type { Db } from '../db/index.ts';
import { findCvm, findCvmById, lockDueScheduledDelete, lockLiveCvm, renameCvm, setCvmStatus, setScheduledDelete, isNameUniqueViolation } from '../store/cvms.ts';
import type { Principal } from './auth.ts';
import type { LifecycleService } from './lifecycle.ts';
import { queueOperation } from './operations.ts';
import type { UpdateService } from './updates.ts';

export interface BatchStopResult {
  total: number;
  stopped: number;
  skipped: number;
  errors: { cvm_id: string; error: string }[];
  skipped_cvms: { cvm_id: string; reason: string }[];
}

/** At most this many scheduled deletes queued per tick (the rest on the next one). */
const DELETES_PER_TICK = 100;

export class CvmOpsService {
  constructor(
    private readonly db: Db,
    private readonly lifecycle: LifecycleService,
    private readonly updates: UpdateService,
    /** wake the operation worker (a delete was queued) */
    private readonly onQueued: () => void,
  ) {}

  /** `PATCH /cvms/{id}/name`: a free name in the workspace (409 otherwise); the record only. */
  async rename(cvm: CvmView, name: string): Promise<void> {
    if (name === cvm.name) return;
    await this.db.tx(async (q) => {
      await lockLiveCvm(q, cvm);
      await renameCvm(q, cvm.id, name).catch((e) => {
        if (isNameUniqueViolation(e)) {
          throw conflict(ErrorCodes.DUPLICATE_CVM_NAME, `A CVM named "${name}" already exists in this workspace: choose another name for ${cvm.name}.`);
        }
        throw e;
      });
    });
  }

  /** `PATCH /cvms/{id}/listed`: recorded at once (an `update` operation that succeeded, as `PATCH /cvms/{id}/visibility` records it). */
  async setListed(p: Principal, cvm: CvmView, listed: boolean): Promise<CvmView> {
    const r = await this.updates.submit(p, cvm, { listed }, { operationType: 'listed' });
    return (await findCvmById(this.db, r.cvm_id))!;
  }

  /** `PATCH /cvms/{id}/scheduled-delete`: a time in the future, or null (or nothing) to clear it. */
  async scheduleDelete(cvm: CvmView, at: string | null | undefined): Promise<CvmView> {
    const when = at ? new Date(at) : null;
    if (when && when.getTime() <= Date.now()) {
      throw new ApiError(422, ErrorCodes.INVALID_REQUEST,
        `scheduled_delete_at ${at} is not in the future: give a later time, or delete the CVM now with DELETE /cvms/${cvm.vm_uuid}.`,
        { details: [{ field: 'scheduled_delete_at', value: at, message: 'must be in the future' }] });
    }
    await this.db.tx(async (q) => {
      await lockLiveCvm(q, cvm);
      await setScheduledDelete(q, cvm.id, when);
    });
    return (await findCvmById(this.db, cvm.id))!;
  }

  /**
   * The reconciler's tick: queue the delete of every CVM whose scheduled delete is due and that is idle, each in
   * its own transaction (the CVM's row locked, the delete queued, its status `deleting`, the time cleared).
   * Answers how many were queued.
   */
  async queueDueDeletes(): Promise<number> {
    let queued = 0;
    let after = 0;
    for (let i = 0; i < DELETES_PER_TICK; i++) {
      const id = await this.db.tx(async (q) => {
        const row = await lockDueScheduledDelete(q, after);
        if (!row) return null;
        await queueOperation(q, {
          workspaceId: row.workspace_id,
          cvmId: row.id,
          kind: 'delete',
          target: 'deleted',
          params: { operation_type: 'scheduled_delete', reason: `scheduled delete at ${row.scheduled_delete_at!.toISOString()}` },
        });
        await setCvmStatus(q, row.id, 'deleting');
        await setScheduledDelete(q, row.id, null);
        return row.id;
      }).catch((e) => {
        // an operation was queued for it meanwhile (the one-active-operation index): its turn comes when that ends
        if ((e as { code?: string }).code === '23505') return -1;
        throw e;
      });
      if (id === null) break;
      // -1: that CVM now has an operation, so the next read passes over it
      if (id > 0) {
        queued++;
        after = id;
      }
    }
    if (queued) this.onQueued();
    return queued;
  }

  /**
   * `POST /cvms/batch-stop`: a force stop of each CVM of the caller's workspace named (any id form), at most 50.
   * Another workspace's CVM, or an id that names none, is an error entry ("not found") and nothing is done to it.
   */
  async batchStop(p: Principal, ids: string[]): Promise<BatchStopResult> {
    if (ids.length > MAX_BATCH_STOP) {
      throw badRequest(ErrorCodes.INVALID_REQUEST, `cvm_ids names ${ids.length} CVMs: at most ${MAX_BATCH_STOP} per request; send the rest in another.`,
        { details: [{ field: 'cvm_ids', value: ids.length, message: `at most ${MAX_BATCH_STOP}` }] });
    }
    const out: BatchStopResult = { total: ids.length, stopped: 0, skipped: 0, errors: [], skipped_cvms: [] };
    const seen = new Set<number>();
    const skip = (cvm_id: string, reason: string) => {
      out.skipped++;
      out.skipped_cvms.push({ cvm_id, reason });
    };
    for (const sent of ids) {
      const cvm = await findCvm(this.db, p.workspaceId, parseCvmRef(sent));
      if (!cvm) {
        out.errors.push({ cvm_id: sent, error: 'not found: no CVM of this workspace has this id' });
        continue;
      }
      if (seen.has(cvm.id)) {
        skip(sent, `names CVM ${cvm.name} again (already in this request)`);
        continue;
      }
      seen.add(cvm.id);
      if (cvm.status === 'stopped' && !cvm.progress) {
        skip(sent, `CVM ${cvm.name} is already stopped`);
        continue;
      }
      if (cvm.progress) {
        skip(sent, `CVM ${cvm.name} is busy with a ${cvm.progress.kind} operation (correlation_id ${cvm.progress.correlation_id})`);
        continue;
      }
      try {
        await this.lifecycle.act(p, cvm, 'stop');
        out.stopped++;
      } catch (e) {
        if (!(e instanceof ApiError)) throw e;
        // busy or stopped since it was read (409, 400): skipped; deleted meanwhile (404): an error
        if (e.status === 409 || e.status === 400) skip(sent, e.message);
        else out.errors.push({ cvm_id: sent, error: e.message });
      }
    }
    return out;
  }
}
