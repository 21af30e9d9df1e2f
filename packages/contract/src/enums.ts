/** The closed sets of values the wire and the store share. */
import { z } from 'zod';

/**
 * A CVM's status. `starting`, `stopping`, `restarting`, `updating` and `deleting` show an operation under
 * way; `exited` is a VM whose process ended on its own (a failed boot: see `boot_error`); `error` is a CVM
 * whose host lost its VM or never created it; `deleted` is only ever seen by a watch that outlived it.
 */
export const CVM_STATUSES = [
  'starting',
  'running',
  'stopping',
  'stopped',
  'restarting',
  'updating',
  'deleting',
  'deleted',
  'exited',
  'error',
] as const;
export const cvmStatusSchema = z.enum(CVM_STATUSES).meta({ id: 'CvmStatus' });
export type CvmStatus = (typeof CVM_STATUSES)[number];

/** What the operation worker does with a CVM (one active operation per CVM at a time). */
export const OPERATION_KINDS = ['create', 'start', 'stop', 'shutdown', 'restart', 'delete', 'update', 'refresh_instance_id'] as const;
export const operationKindSchema = z.enum(OPERATION_KINDS).meta({ id: 'OperationKind' });
export type OperationKind = (typeof OPERATION_KINDS)[number];

/** `pending` (queued) and `running` are active; `succeeded` and `failed` are final. */
export const OPERATION_STATES = ['pending', 'running', 'succeeded', 'failed'] as const;
export const operationStateSchema = z.enum(OPERATION_STATES).meta({ id: 'OperationState' });
export type OperationState = (typeof OPERATION_STATES)[number];
export const ACTIVE_OPERATION_STATES: readonly OperationState[] = ['pending', 'running'];

/** KMS types as the API reports them (`kms_type`); requests name them in capitals (`PHALA`, `ETHEREUM`, `BASE`). */
export const KMS_TYPES = ['phala', 'ethereum', 'base'] as const;
export const kmsTypeSchema = z.enum(KMS_TYPES).meta({ id: 'KmsType' });
export type KmsType = (typeof KMS_TYPES)[number];

/**
 * A registered host's reachability: `online`; `offline` (it did not answer when it was registered or
 * refreshed); `unreachable` (it stopped answering the reconciler's reads for several ticks in a row).
 * Placement only takes `online` hosts.
 */
export const NODE_STATUSES = ['online', 'offline', 'unreachable'] as const;
export type NodeStatus = (typeof NODE_STATUSES)[number];
