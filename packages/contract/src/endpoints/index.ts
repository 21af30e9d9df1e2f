/** Every endpoint the server registers, declared once. A test fails if the server's routes and this list differ. */
import type { Endpoint } from '../endpoint.ts';
import * as allowlists from './allowlists.ts';
import * as attestations from './attestations.ts';
import * as apps from './apps.ts';
import * as auth from './auth.ts';
import * as catalog from './catalog.ts';
import * as cvms from './cvms.ts';
import * as cvmOps from './cvm-ops.ts';
import * as cvmAttestation from './cvm-attestation.ts';
import * as deploy from './deploy.ts';
import * as events from './events.ts';
import * as guestKms from './guest-kms.ts';
import * as hosts from './hosts.ts';
import * as instanceIds from './instance-ids.ts';
import * as kmsAuth from './kms-auth.ts';
import * as lifecycle from './lifecycle.ts';
import * as logs from './logs.ts';
import * as meta from './meta.ts';
import * as runtime from './runtime.ts';
import * as tokens from './tokens.ts';
import * as sshKeys from './ssh-keys.ts';
import * as updates from './updates.ts';
import * as members from './members.ts';
import * as adminWorkspaces from './admin-workspaces.ts';
import * as webhooks from './webhooks.ts';

export * from './allowlists.ts';
export * from './attestations.ts';
export * from './apps.ts';
export * from './auth.ts';
export * from './catalog.ts';
export * from './cvms.ts';
export * from './cvm-ops.ts';
export * from './cvm-attestation.ts';
export * from './deploy.ts';
export * from './events.ts';
export * from './guest-kms.ts';
export * from './hosts.ts';
export * from './instance-ids.ts';
export * from './kms-auth.ts';
export * from './lifecycle.ts';
export * from './logs.ts';
export * from './meta.ts';
export * from './runtime.ts';
export * from './tokens.ts';
export * from './ssh-keys.ts';
export * from './updates.ts';
export * from './members.ts';
export * from './admin-workspaces.ts';
export * from './webhooks.ts';
export * from './params.ts';

const isEndpoint = (v: unknown): v is Endpoint =>
  typeof v === 'object' && v !== null && 'method' in v && 'path' in v && 'success' in v && 'id' in v;

/** All endpoints, in a stable order (by path, then method). */
export const endpoints: readonly Endpoint[] = [meta, auth, deploy, cvms, cvmOps, lifecycle, updates, instanceIds, apps, allowlists, runtime, catalog, logs, guestKms, kmsAuth, hosts, tokens, sshKeys, members, adminWorkspaces, attestations, cvmAttestation, webhooks, events]
  .flatMap((m) => Object.values(m).filter(isEndpoint))
  .sort((a, b) => a.path.localeCompare(b.path) || a.method.localeCompare(b.method));
