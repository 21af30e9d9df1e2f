/**
 * `delete`: remove the VM from its host (and its disk there), wait until the host no longer has it, then
 * retire the record: the name becomes free. Steps: removing → deleted.
 */
import { readCvmRecord, recordDeleted } from '../../store/cvm-records.ts';
import { succeedOperation } from '../../store/operations.ts';
import type { OperationModule } from '../context.ts';
import { requestRemoval, untilRemoved } from '../vm-steps.ts';

export const remove: OperationModule = {
  onFailure: 'host',
  async run(ctx) {
    const cvm = await readCvmRecord(ctx.db, ctx.op.cvm_id);
    if (cvm.host_vm_id) {
      await requestRemoval(ctx, cvm.node_id, cvm.host_vm_id);
      await ctx.step('removing');
      await untilRemoved(ctx, cvm.node_id, cvm.host_vm_id);
      if (ctx.stopping()) return;
    }
    await ctx.db.tx(async (q) => {
      await ctx.holds(q);
      await recordDeleted(q, cvm.id);
      await succeedOperation(q, ctx.op.id, 'deleted');
    });
  },
};
