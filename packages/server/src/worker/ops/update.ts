/**
 * `update`, a configuration update: stop (gracefully) if it runs, UpdateVm on the host with only the
 * fields that move, record the new configuration (and a revision if the compose hash moved), boot again
 * if it ran. A host that refuses the update keeps the VM as it was: the CVM is booted on its previous
 * configuration and the operation fails with the host's reason.
 * Steps: (halt) → applying → applied → booting; a refused one: reverting (while it boots again, if it ran).
 * Resumed at `applying`, it reads the VM's configuration first and sends UpdateVm only if the change is not there.
 */
import { hostUpdateOf } from '@opencvm/core';
import { HostError, type VmConfiguration } from '../../hosts/vmm-client.ts';
import type { UpdateParams } from '../../services/updates.ts';
import { applyConfig } from '../../store/cvm-config.ts';
import { setStatus } from '../../store/cvm-records.ts';
import { failOperation, setStep, succeedOperation } from '../../store/operations.ts';
import { recordRevision } from '../../store/revisions.ts';
import type { OpContext, OperationModule } from '../context.ts';
import { opFields } from '../log.ts';
import { bootAgain, halt, hostVm } from '../vm-steps.ts';

export const update: OperationModule = {
  onFailure: 'host',
  async run(ctx) {
    const { op, db } = ctx;
    const p = op.params as unknown as UpdateParams;
    // resumed after the host's refusal was recorded: end as a refused update does, booting only a CVM that ran
    if (op.step === 'reverting') return refused(ctx, p, op.error ?? 'the host refused the update');
    if (op.step !== 'applied' && op.step !== 'booting') {
      if (op.step !== 'applying') {
        await halt(ctx, 'graceful', { finish: false, statusAfter: 'updating' });
        if (ctx.stopping()) return;
        await ctx.step('applying');
      }
      const { host, hostVmId } = await hostVm(ctx);
      const change = hostUpdateOf(p.previous, p.next);
      // resumed at `applying`: the host may have applied it before the process died; read it first. (UpdateVm
      // sets values, never increments, so sending it again would also leave the same configuration.)
      const applied = op.step === 'applying' && alreadyApplied((await host.getInfo(hostVmId))?.configuration, change);
      try {
        if (!applied) await host.updateVm(hostVmId, change);
      } catch (e) {
        if (!(e instanceof HostError) || !e.reachable) throw e;
        const reason = `the host refused the update: ${e.message}`;
        ctx.settings.log({ ...opFields(op), step: 'applying' }, reason);
        await ctx.step('reverting', reason);
        return refused(ctx, p, reason);
      }
      await db.tx(async (q) => {
        await ctx.holds(q);
        await applyConfig(q, op.cvm_id, p.next);
        if (p.next.compose_hash !== p.previous.compose_hash) {
          await recordRevision(q, { cvmId: op.cvm_id, userId: p.triggered_by ?? null, operationType: p.operation_type, operationId: op.id, correlationId: op.correlation_id });
        }
        await setStep(q, op.id, 'applied');
      });
    }
    if (p.restart) return bootAgain(ctx);
    await db.tx(async (q) => {
      await ctx.holds(q);
      await setStatus(q, op.cvm_id, 'stopped');
      await succeedOperation(q, op.id, 'done');
    });
  },
};

/** Whether the VM's configuration, as the host reports it, already has every value of the change. */
export function alreadyApplied(config: VmConfiguration | null | undefined, change: Record<string, unknown>): boolean {
  if (!config) return false;
  const now = config as unknown as Record<string, unknown>;
  // encrypted_env is bytes, which a host may answer in either case of hex
  const same = (field: string, a: unknown, b: unknown) =>
    a === b || (field === 'encrypted_env' && typeof a === 'string' && typeof b === 'string' && a.toLowerCase() === b.toLowerCase());
  return Object.entries(change).every(([field, value]) => same(field, now[field], value));
}

/** The host refused the update: the CVM boots again on its previous configuration if it ran, else stays stopped; the operation fails with the reason. */
async function refused(ctx: OpContext, p: UpdateParams, reason: string): Promise<void> {
  if (p.restart) return bootAgain(ctx, { failWith: reason, step: 'reverting' });
  await ctx.db.tx(async (q) => {
    await ctx.holds(q);
    await setStatus(q, ctx.op.cvm_id, 'stopped');
    await failOperation(q, ctx.op.id, reason);
  });
}
