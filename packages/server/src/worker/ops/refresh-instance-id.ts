/**
 * `refresh_instance_id`, a new instance id: the guest derives it from a seed the host keeps with the VM,
 * so the VM is removed from its host and created again with the same configuration; its first boot
 * generates a new seed and id. The old id was cleared when the operation was queued and is never recorded
 * again (see `recordHostState`), and the disk is new, since the disk key is per instance.
 * Steps: (halt) → removing → (create's steps).
 */
import { forgetHostVm, readCvmRecord } from '../../store/cvm-records.ts';
import type { OperationModule } from '../context.ts';
import { halt, requestRemoval, untilRemoved } from '../vm-steps.ts';
import { createAndBoot } from './create.ts';

export const refreshInstanceId: OperationModule = {
  onFailure: 'host',
  async run(ctx) {
    const { step } = ctx.op;
    const halting = step === null || step === 'shutting down' || step === 'stopping';
    if (halting) {
      const cvm = await readCvmRecord(ctx.db, ctx.op.cvm_id);
      if (cvm.host_vm_id) await halt(ctx, 'graceful', { finish: false, statusAfter: 'restarting' });
      if (ctx.stopping()) return;
      await ctx.step('removing');
    }
    const cvm = await readCvmRecord(ctx.db, ctx.op.cvm_id);
    if (cvm.host_vm_id && (halting || step === 'removing')) {
      await requestRemoval(ctx, cvm.node_id, cvm.host_vm_id);
      await untilRemoved(ctx, cvm.node_id, cvm.host_vm_id);
      if (ctx.stopping()) return;
      await forgetHostVm(ctx.db, cvm.id);
    }
    await createAndBoot(ctx);
  },
};
