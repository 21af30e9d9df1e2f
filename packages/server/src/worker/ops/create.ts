/** `create`: the first boot of a CVM (a commit, a replica) — and the second half of an instance-id refresh. */
import { readCvmRecord, setHostVmId } from '../../store/cvm-records.ts';
import type { OpContext, OperationModule } from '../context.ts';
import { followBoot, vmConfiguration } from '../vm-steps.ts';

/**
 * CreateVm (stopped) unless the CVM already has a host VM, record the host's VM id, StartVm unless it
 * already runs, follow the boot to `done`. Steps: created → booting.
 */
export async function createAndBoot(ctx: OpContext): Promise<void> {
  const cvm = await readCvmRecord(ctx.db, ctx.op.cvm_id);
  const host = await ctx.nodes.client(cvm.node_id);
  let hostVmId = cvm.host_vm_id;
  if (!hostVmId) {
    const { id } = await host.createVm(vmConfiguration(cvm, ctx.settings.kmsUrls));
    hostVmId = id;
    await setHostVmId(ctx.db, cvm.id, id);
    await ctx.step('created');
  }
  const info = await host.getInfo(hostVmId);
  if (!info) throw new Error(`host lost VM ${hostVmId}`);
  if (info.status !== 'running') await host.startVm(hostVmId);
  await ctx.step('booting');
  await followBoot(ctx, cvm.id, hostVmId);
}

export const create: OperationModule = { run: createAndBoot, onFailure: 'boot' };
