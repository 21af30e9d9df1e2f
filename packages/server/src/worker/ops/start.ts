/**
 * `start`: boot a CVM's existing host VM again (StartVm unless it already runs), then follow the boot. A CVM
 * that records no VM (its host lost it while it was stopped) has it created first, as `create` does: the VM
 * labelled with the CVM's id is looked for before CreateVm, so never a second one.
 */
import { readCvmRecord } from '../../store/cvm-records.ts';
import type { OperationModule } from '../context.ts';
import { bootAgain } from '../vm-steps.ts';
import { createAndBoot } from './create.ts';

export const start: OperationModule = {
  run: async (ctx) => {
    const cvm = await readCvmRecord(ctx.db, ctx.op.cvm_id);
    if (!cvm.host_vm_id || ['creating', 'created'].includes(ctx.op.step ?? '')) return createAndBoot(ctx);
    return bootAgain(ctx);
  },
  onFailure: 'boot',
};
