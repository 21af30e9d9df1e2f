/**
 * How a VM on a host is tied to its CVM before the host has answered with the VM's id: the VM's name carries
 * this installation's id and the CVM's `vm_uuid`, e.g. `my-app (opencvm 3f9c0a1b2c4d 0b7e…-…)`.
 *
 * Why the name: dstack-vmm keeps the `name` of `CreateVm`'s `VmConfiguration` in the VM's manifest and
 * answers it in every `VmInfo`, also in a brief `Status` (dstack's `vmm/src/app/vm_info.rs`, `to_pb`: `name`
 * is always set, `configuration` only when not brief), and `Status`'s `keyword` matches it (`vmm/src/app.rs`,
 * `list_vms`). The name stays on the host (the supervisor's process name, the host's UI); the guest never
 * sees it and it is not measured. The other fields dstack answers back are either measured or read by the
 * guest (`compose_file` is the compose hash, `user_config` is the user's and lands in the guest at
 * `/dstack/.user-config`, `kms_urls` and `gateway_urls` are where the guest connects) and so must stay
 * exactly what the user asked for. dstack allows `A-Z a-z 0-9 - _ . space @ ~ ! $ ^ ( )` in a name
 * (`vmm/src/main_service.rs`, `validate_label`); the suffix uses only those.
 *
 * The installation id (a random id kept in the database, so every replica on one database shares it) keeps
 * two opencvm installations that share a host from taking each other's VMs for orphans. A VM whose name
 * carries no opencvm suffix, or another installation's, is never ours.
 */
import { randomBytes } from 'node:crypto';
import type { Queryable } from '../db/index.ts';
import { insertSecretIfAbsent, readSecret } from '../store/secrets.ts';

/** What a host VM's name says about who made it. */
export interface HostVmLabel {
  /** the opencvm installation that created it */
  installation: string;
  /** the CVM (`cvms.vm_uuid`) it was created for */
  vmUuid: string;
}

const SUFFIX = / \(opencvm ([0-9a-f]{12}) ([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\)$/;

/** The `Status` keyword that finds the VMs created for one CVM by this installation (a substring of their name). */
export const labelKeyword = (l: HostVmLabel): string => `(opencvm ${l.installation} ${l.vmUuid})`;

/** The name a CVM's VM gets on its host: the CVM's name, then who made it and for which CVM. */
export const hostVmName = (cvmName: string, l: HostVmLabel): string => `${cvmName} ${labelKeyword(l)}`;

/** The label in a host VM's name, or null if opencvm did not name it. */
export function parseHostVmName(name: string): HostVmLabel | null {
  const m = SUFFIX.exec(name);
  return m ? { installation: m[1], vmUuid: m[2] } : null;
}

/** The CVM name part of a host VM's name (the whole name if it carries no label). */
export const cvmNameOf = (hostVmName: string): string => hostVmName.replace(SUFFIX, '');

/** This installation's id: made on first start (the first writer wins), the same for every replica on the database. */
export async function installationId(q: Queryable): Promise<string> {
  await insertSecretIfAbsent(q, 'installation_id', randomBytes(6).toString('hex'));
  const id = await readSecret(q, 'installation_id');
  if (!id || !/^[0-9a-f]{12}$/.test(id)) throw new Error('server_secrets.installation_id is not 12 hex digits');
  return id;
}
