/**
 * `CvmAttestationService`: a CVM's attestation evidence (`GET /cvms/{id}/attestation`,
 * `GET /apps/{app_id}/attestations`), read from its guest agent at each request (dstack-vmm's `/guest/Info`,
 * as Phala's API reads it) — evidence is not state the server keeps, so this is a request path that asks a
 * host. The answer carries the replay of the event log against the CVM's recorded compose hash, app id and
 * instance id (core's `cvmAttestationShape`). A CVM that is not running, a host or guest that does not answer,
 * is `is_online: false` with the reason: never a 5xx.
 */
import { appAttestationInstance, cvmAttestationShape, type AppRecord, type CvmView, type GuestEvidence } from '@opencvm/core';
import type { Db } from '../db/index.ts';
import { listCvmsOfApps, readInstanceRef } from '../store/cvms.ts';
import type { Principal } from './auth.ts';
import type { NodeService } from './nodes.ts';

export class CvmAttestationService {
  constructor(
    private readonly db: Db,
    private readonly nodes: NodeService,
  ) {}

  /** What the CVM's guest agent reports now, or why it cannot be asked. */
  async evidence(cvm: CvmView): Promise<GuestEvidence> {
    if (cvm.status !== 'running') {
      return { error: `the CVM is ${cvm.status}: its guest agent answers while it runs (start it with POST /cvms/{id}/start)` };
    }
    const ref = await readInstanceRef(this.db, cvm.id);
    if (!ref?.host_vm_id || ref.node_id === null) return { error: 'the CVM has no VM on a host yet' };
    try {
      const host = await this.nodes.client(ref.node_id);
      return { info: await host.guestInfo(ref.host_vm_id) };
    } catch (e) {
      return { error: `the guest agent did not answer: ${(e as Error).message}` };
    }
  }

  async cvm(cvm: CvmView) {
    return cvmAttestationShape(cvm, await this.evidence(cvm));
  }

  /** Every live CVM of the app, their guests asked in parallel. */
  async app(p: Principal, app: AppRecord) {
    const cvms = await listCvmsOfApps(this.db, p.workspaceId, [app.app_id]);
    const instances = await Promise.all(cvms.map(async (c) => appAttestationInstance(c, await this.evidence(c))));
    const k = cvms[0]?.kms;
    return {
      app_id: app.app_id,
      contract_address: cvms.find((c) => c.contract_address)?.contract_address ?? '',
      kms_info: {
        contract_address: k?.kms_contract_address ?? '',
        chain_id: k?.chain_id != null ? String(k.chain_id) : null,
        version: k?.version ?? '',
        url: k?.url ?? '',
        gateway_app_id: k?.gateway_app_id ?? null,
        gateway_app_url: '',
        kms_type: k?.kms_type ?? app.kms_type,
      },
      instances,
      kms_guest_agent_info: null,
      gateway_guest_agent_info: null,
      qemu_version: null,
    };
  }
}
