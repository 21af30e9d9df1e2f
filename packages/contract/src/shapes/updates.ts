/** Answers of configuration updates, instance ids and operations. */
import { z } from 'zod';
import { operationKindSchema, operationStateSchema } from '../enums.ts';
import { composeHashHex, kmsInfoSchema, nullableString, nullableTimestamp, timestamp } from './common.ts';

/**
 * Every accepted change: `in_progress` (the worker applies it; the CVM restarts) or `applied` (recorded at
 * once; nothing on the host changed). `correlation_id` names the operation (`GET /cvms/{id}/operations/{id}`).
 */
export const updateAcceptedSchema = z
  .strictObject({
    status: z.enum(['in_progress', 'applied', 'unchanged']),
    message: z.string(),
    correlation_id: z.string(),
    compose_hash: composeHashHex,
    allowed_envs_changed: z.boolean(),
  })
  .meta({ id: 'UpdateAccepted' });

/** The deprecated `phala cvms upgrade` prints `detail` when there is one. */
export const legacyUpgradeAcceptedSchema = updateAcceptedSchema.extend({ detail: z.string() });

/** `POST /cvms/{id}/compose_file/provision`: the new compose hash, kept 14 days for the commit. */
export const composeProvisionResultSchema = z
  .strictObject({
    app_id: z.string(),
    device_id: z.string(),
    compose_hash: composeHashHex,
    kms_info: kmsInfoSchema.nullable(),
    compose_hash_registered: z.boolean(),
  })
  .meta({ id: 'ComposeFileProvisionResult' });

/**
 * The fields of a 465 answer (a prepare-only `PATCH /cvms/{id}`, or a new compose hash an on-chain KMS app must
 * allow first), in the error envelope's `details`; `onchain_status` (`{compose_hash_allowed, device_id_allowed,
 * is_allowed}`) with an on-chain KMS only.
 */
export const preparedDetailFields = ['compose_hash', 'app_id', 'device_id', 'kms_info', 'commit_token', 'commit_url', 'api_commit_url', 'expires_at', 'onchain_status'] as const;

/** `InstanceIdRefreshResult`: one CVM's instance-id outcome. */
export const instanceIdResultSchema = z
  .strictObject({
    cvm_id: z.number().int(),
    identifier: z.string(),
    status: z.enum(['updated', 'unchanged', 'skipped', 'conflict', 'error']),
    old_instance_id: nullableString,
    new_instance_id: nullableString,
    source: z.enum(['teepod_state', 'teepod_info', 'gateway', 'none']),
    verified_with_gateway: z.boolean(),
    reason: nullableString,
    correlation_id: z.string().optional(),
    error_code: z.string().optional(),
  })
  .meta({ id: 'InstanceIdResult' });

/** `POST /cvms/{id}/refresh-instance-id`: the new id is always queued, so the answer always names its operation. */
export const instanceIdRenewalSchema = instanceIdResultSchema
  .extend({ correlation_id: z.string() })
  .meta({ id: 'InstanceIdRenewal' });

export const instanceIdBatchSchema = z
  .strictObject({
    total: z.number().int(),
    scanned: z.number().int(),
    updated: z.number().int(),
    unchanged: z.number().int(),
    skipped: z.number().int(),
    conflicts: z.number().int(),
    errors: z.number().int(),
    items: z.array(instanceIdResultSchema),
  })
  .meta({ id: 'InstanceIdBatch' });

/** An operation of a CVM (opencvm's own read): what it is doing or how it ended. */
export const operationSchema = z
  .strictObject({
    correlation_id: z.string(),
    kind: operationKindSchema,
    operation_type: z.string(),
    target: z.string(),
    state: operationStateSchema,
    step: nullableString,
    error: nullableString,
    /** why opencvm queued it on its own (the reconciler bringing the CVM back to its desired state); null for one a request queued */
    reason: nullableString,
    created_at: timestamp,
    started_at: nullableTimestamp,
    finished_at: nullableTimestamp,
  })
  .meta({ id: 'Operation' });

export const operationListSchema = z.strictObject({ items: z.array(operationSchema) });
