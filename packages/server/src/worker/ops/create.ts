/** `create`: the first boot of a CVM (a commit, a replica) — and the second half of an instance-id refresh. */
import type { VmmClient } from '../../hosts/vmm-client.ts';
import { labelKeyword, parseHostVmName } from '../../services/host-vm-names.ts';
import { readCvmRecord, setHostVmId, type CvmRecord } from '../../store/cvm-records.ts';
import type { OpContext, OperationModule } from '../context.ts';
import { opFields } from '../log.ts';
import { followBoot, vmConfiguration } from '../vm-steps.ts';

/**
 * CreateVm (stopped) unless the CVM already has a host VM, record the host's VM id, StartVm unless it
 * already runs, follow the boot to `done`. Steps: creating → created → booting.
 *
 * `creating` is recorded before CreateVm is sent: an operation resumed at that step (the process died, or the
 * host's answer was lost, after the host may have created the VM) first looks on the host for the VM named
 * after this CVM (one `Status` call, see `services/host-vm-names.ts`) and continues with it; it creates one
 * only if the host has none. A second VM found for the CVM is left to the reconciler, which removes VMs no
 * CVM owns.
 */
export async function createAndBoot(ctx: OpContext): Promise<void> {
  const cvm = await readCvmRecord(ctx.db, ctx.op.cvm_id);
  const host = await ctx.nodes.client(cvm.node_id);
  let hostVmId = cvm.host_vm_id;
  /** created by this run: stopped (CreateVm asks for that), so there is nothing to read before StartVm */
  let fresh = false;
  if (!hostVmId) {
    // a first create has nothing to find (its CVM was just recorded); a resumed one, a recovery (queued at
    // `creating`) and a start of a CVM with no VM (`find_vm`) look for the VM by its label first
    const lookFirst = ctx.op.step === 'creating' || ctx.op.kind !== 'create' || ctx.op.params.find_vm === true;
    hostVmId = lookFirst ? await findCreated(ctx, host, cvm) : null;
    if (hostVmId) {
      ctx.settings.log({ ...opFields(ctx.op), step: 'creating', host_vm_id: hostVmId }, `continuing with VM ${hostVmId}, created for this CVM before the operation was interrupted`);
    } else {
      await ctx.step('creating');
      ({ id: hostVmId } = await host.createVm(vmConfiguration(cvm, ctx.settings)));
      fresh = true;
    }
    // the id first: interrupted before the step below, the resumed run finds it on the CVM and goes on from there
    await setHostVmId(ctx.db, cvm.id, hostVmId);
    await ctx.step('created');
  }
  if (fresh) await host.startVm(hostVmId);
  else {
    const info = await host.getInfo(hostVmId);
    if (!info) throw new Error(`host lost VM ${hostVmId}`);
    // resumed: the VM may already be booting; never start it twice
    if (info.status !== 'running') await host.startVm(hostVmId);
  }
  await ctx.step('booting');
  await followBoot(ctx, cvm.id, hostVmId, undefined, cvm.node_id);
}

/** The VM a CreateVm of an interrupted attempt left on the host for this CVM (the oldest, if several), or null. */
async function findCreated(ctx: OpContext, host: VmmClient, cvm: CvmRecord): Promise<string | null> {
  const label = { installation: ctx.settings.installationId, vmUuid: cvm.vm_uuid };
  const vms = await host.status({ keyword: labelKeyword(label), brief: true });
  const ours = vms.filter((v) => {
    const l = parseHostVmName(v.name);
    // a VM being removed is the one a refresh of the instance id retired, never the one to continue with
    return l?.installation === label.installation && l.vmUuid === label.vmUuid && v.status !== 'removing';
  });
  return ours[0]?.id ?? null;
}

export const create: OperationModule = { run: createAndBoot, onFailure: 'boot' };
