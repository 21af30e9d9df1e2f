/**
 * A CVM as the API answers it, in each form the official clients read: the VM object of lifecycle calls,
 * the commit answer, the detail and list items of both `X-Phala-Version`s, its state and status.
 */
import { z } from 'zod';
import { cvmStatusSchema, kmsTypeSchema } from '../enums.ts';
import {
  gatewayUrlSchema,
  kmsInfoSchema,
  machineInfoSchema,
  nodeRefSchema,
  nullableString,
  nullableTimestamp,
  teepodRefSchema,
  timestamp,
  uuid,
} from './common.ts';

/** `VMSchema`: the answer to start, stop, shutdown, restart, replicate and a new app instance. */
export const vmSchema = z
  .strictObject({
    id: z.number().int(),
    name: z.string(),
    status: cvmStatusSchema,
    teepod_id: z.number().int(),
    teepod: teepodRefSchema,
    user_id: z.number().int().nullable(),
    app_id: z.string(),
    vm_uuid: uuid,
    instance_id: nullableString,
    app_url: nullableString,
    base_image: z.string(),
    vcpu: z.number().int(),
    memory: z.number().int(),
    disk_size: z.number().int(),
    manifest_version: z.number().int(),
    version: z.string(),
    runner: z.string(),
    docker_compose_file: nullableString,
    features: z.array(z.string()),
    created_at: timestamp,
    encrypted_env_pubkey: nullableString,
  })
  .meta({ id: 'Vm' });

/** `POST /cvms` (commit): a VM plus the on-chain fields. */
export const commitResultSchema = vmSchema
  .extend({ app_auth_contract_address: nullableString, deployer_address: nullableString })
  .meta({ id: 'CommittedCvm' });

/** `VMSchema` from `X-Phala-Version: 2026-05-22` on: the same, its `id` a string (the Python SDK's `CvmActionResponseV20260522`). */
export const vmV20260522Schema = vmSchema.extend({ id: z.string() }).meta({ id: 'VmV20260522' });

/** `POST /cvms` (commit) from 2026-05-22 on: its `id` a string (`CommitCvmProvisionResponseV20260522`). */
export const commitResultV20260522Schema = commitResultSchema.extend({ id: z.string() }).meta({ id: 'CommittedCvmV20260522' });

/** `DELETE /cvms/{id}`: accepted; the worker removes the VM. */
export const deleteAcceptedSchema = z.strictObject({
  id: uuid,
  name: z.string(),
  status: cvmStatusSchema,
  correlation_id: z.string().nullable(),
});

/** `GET /cvms/{id}` under `X-Phala-Version: 2025-10-28` (`CvmDetailV20251028Schema`; also `PATCH /cvms/{id}/visibility`). */
export const cvmDetailV2025Schema = z
  .strictObject({
    id: z.number().int(),
    name: z.string(),
    status: cvmStatusSchema,
    in_progress: z.boolean(),
    teepod_id: z.number().int(),
    teepod: teepodRefSchema,
    app_id: z.string(),
    vm_uuid: uuid,
    instance_id: nullableString,
    vcpu: z.number().int(),
    memory: z.number().int(),
    disk_size: z.number().int(),
    base_image: z.string(),
    encrypted_env_pubkey: nullableString,
    listed: z.boolean(),
    public_sysinfo: z.boolean(),
    public_logs: z.boolean(),
    project_id: z.null(),
    project_type: z.null(),
    instance_type: nullableString,
    dapp_dashboard_url: nullableString,
    syslog_endpoint: nullableString,
    contract_address: nullableString,
    deployer_address: nullableString,
    scheduled_delete_at: nullableTimestamp,
    gateway_domain: nullableString,
    updated_at: timestamp,
    kms_info: kmsInfoSchema,
    public_urls: z.array(gatewayUrlSchema),
    machine_info: machineInfoSchema,
  })
  .meta({ id: 'CvmDetailV20251028' });

/** `CvmInfoV20260121Schema`: a CVM in list pages and apps under 2026-01-21. */
export const cvmInfoV2026Schema = z
  .strictObject({
    id: uuid,
    name: z.string(),
    status: cvmStatusSchema,
    resource: z.strictObject({
      instance_type: nullableString,
      vcpu: z.number().int(),
      memory_in_gb: z.number(),
      disk_in_gb: z.number().int(),
      gpus: z.number().int(),
      compute_billing_price: z.null(),
      billing_period: z.literal('skip'),
    }),
    gateway: z.strictObject({ base_domain: nullableString, cname: z.null() }),
    app_id: z.string(),
    vm_uuid: uuid,
    instance_id: nullableString,
    node_info: nodeRefSchema,
    os: z.strictObject({ name: z.string(), version: nullableString, is_dev: z.boolean(), os_image_hash: nullableString }),
    kms_type: kmsTypeSchema,
    kms_info: z.strictObject({
      chain_id: z.number().int().nullable(),
      dstack_kms_address: nullableString,
      dstack_app_address: nullableString,
      deployer_address: nullableString,
      rpc_endpoint: nullableString,
      encrypted_env_pubkey: nullableString,
    }),
    progress: z.strictObject({ target: z.string(), started_at: timestamp, correlation_id: z.string() }).nullable(),
    compose_hash: z.string(),
    services: z.array(z.record(z.string(), z.unknown())),
    endpoints: z.array(gatewayUrlSchema),
    public_logs: z.boolean(),
    public_sysinfo: z.boolean(),
    public_tcbinfo: z.boolean(),
    gateway_enabled: z.boolean(),
    secure_time: z.boolean(),
    storage_fs: z.string(),
    listed: z.boolean(),
    workspace: z.strictObject({ object_type: z.literal('workspace'), id: z.string(), name: z.string(), slug: nullableString, avatar_url: z.null() }),
    creator: z.strictObject({ object_type: z.literal('user'), id: z.string(), username: z.string(), avatar_url: z.null() }).nullable(),
  })
  .meta({ id: 'CvmInfoV20260121' });

/**
 * `GET /cvms/{id}` under 2026-01-21: the CVM with its app-compose, plus `boot_progress` and `boot_error` (not in
 * Phala's schema, which drops them; what a person debugging a boot needs) and `scheduled_delete_at` (when
 * `PATCH /cvms/{id}/scheduled-delete` set a delete; the 2025-10-28 detail has it too).
 */
export const cvmDetailV2026Schema = cvmInfoV2026Schema
  .extend({
    compose_file: z.record(z.string(), z.unknown()),
    boot_progress: nullableString,
    boot_error: nullableString,
    scheduled_delete_at: nullableTimestamp,
  })
  .meta({ id: 'CvmDetailV20260121' });

/** `CvmInfoV20251028Schema`: a CVM in list pages under 2025-10-28. */
export const cvmListItemV2025Schema = z
  .strictObject({
    hosted: z.strictObject({
      id: uuid,
      name: z.string(),
      status: cvmStatusSchema,
      uptime: z.string(),
      app_url: nullableString,
      app_id: z.string(),
      instance_id: nullableString,
      exited_at: nullableTimestamp,
      boot_progress: nullableString,
      boot_error: nullableString,
      shutdown_progress: nullableString,
      image_version: nullableString,
    }),
    name: z.string(),
    managed_user: z.strictObject({ id: z.number().int(), username: z.string() }).nullable(),
    node: teepodRefSchema,
    listed: z.boolean(),
    status: cvmStatusSchema,
    in_progress: z.boolean(),
    dapp_dashboard_url: nullableString,
    syslog_endpoint: nullableString,
    allow_upgrade: z.boolean(),
    project_id: z.null(),
    project_type: z.null(),
    billing_period: z.null(),
    kms_info: kmsInfoSchema,
    vcpu: z.number().int(),
    memory: z.number().int(),
    disk_size: z.number().int(),
    gateway_domain: nullableString,
    public_urls: z.array(gatewayUrlSchema),
    machine_info: machineInfoSchema,
    updated_at: timestamp,
  })
  .meta({ id: 'CvmInfoV20251028' });

/** `CvmBasicInfoV20251028Schema`: an app's `current_cvm` / `cvms[]` under 2025-10-28. */
export const cvmBasicInfoV2025Schema = z
  .strictObject({
    vm_uuid: uuid,
    app_id: z.string(),
    name: z.string(),
    status: cvmStatusSchema,
    vcpu: z.number().int(),
    memory: z.number().int(),
    disk_size: z.number().int(),
    teepod_id: z.number().int(),
    teepod_name: z.string(),
    region_identifier: nullableString,
    kms_type: kmsTypeSchema,
    instance_type: nullableString,
    listed: z.boolean(),
    base_image: z.string(),
    kms_slug: nullableString,
    kms_id: z.string(),
    instance_id: nullableString,
    machine_info: machineInfoSchema,
    updated_at: timestamp,
  })
  .meta({ id: 'CvmBasicInfoV20251028' });

/** `CvmStateSchema`: strings only, and a key is absent rather than null (null fails the official SDK). */
export const cvmStateSchema = z
  .strictObject({
    id: uuid,
    name: z.string(),
    status: cvmStatusSchema,
    instance_id: z.string().optional(),
    uptime: z.string().optional(),
    exited_at: timestamp.optional(),
    boot_progress: z.string().optional(),
    boot_error: z.string().optional(),
    shutdown_progress: z.string().optional(),
  })
  .meta({ id: 'CvmState' });

/** One entry of the `POST /status/batch` map (`CvmStatusSchema`). */
export const cvmStatusEntrySchema = z
  .strictObject({
    vm_uuid: uuid,
    status: cvmStatusSchema,
    in_progress: z.boolean(),
    uptime: nullableString,
    boot_progress: nullableString,
    boot_error: nullableString,
    operation_type: nullableString,
    operation_started_at: nullableTimestamp,
    correlation_id: nullableString,
  })
  .meta({ id: 'CvmStatusEntry' });

/** `POST /status/batch`: keyed by exactly the strings sent; unknown ids are left out. */
export const statusBatchResultSchema = z.record(z.string(), cvmStatusEntrySchema).meta({ id: 'CvmStatusBatch' });

/** `CvmUserConfigSchema`. */
export const userConfigSchema = z
  .strictObject({ hostname: nullableString, ssh_authorized_keys: z.array(z.string()), default_gateway_domain: nullableString })
  .meta({ id: 'CvmUserConfig' });

/** The app-compose as deployed (`GET /cvms/{id}/compose_file`): dstack's AppCompose, whatever keys it has. */
export const appComposeSchema = z.record(z.string(), z.unknown()).meta({ id: 'AppCompose' });
