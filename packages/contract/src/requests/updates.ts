/** Requests of the configuration updates: the unified PATCH and every single-purpose update endpoint. */
import { z } from 'zod';

const hex = z.string().regex(/^(0x)?([0-9a-fA-F]{2})+$/, 'must be a non-empty hex string (what encryptEnvVars returns)');
const envKey = z.string().regex(/^[A-Za-z_][A-Za-z0-9_.-]*$/, 'must be an environment variable name');
const positiveInt = (what: string) => z.number({ error: `${what} must be a number` }).int(`${what} must be a whole number`).positive(`${what} must be positive`);

/** The fields `PATCH /cvms/{id}` takes (Phala Cloud's `patchCvm`). */
export const UNIFIED_PATCH_FIELDS = [
  'docker_compose_file', 'pre_launch_script', 'allowed_envs', 'public_logs', 'public_sysinfo', 'public_tcbinfo', 'encrypted_env',
  'env_keys', 'user_config', 'gpus', 'vcpu', 'memory', 'disk_size', 'instance_type', 'allow_restart', 'image', 'shutdown_timeout',
  'allow_force_stop', 'listed',
] as const;

/** `PATCH /cvms/{id}` (Phala Cloud's `patchCvm`): any subset, applied atomically. Unknown keys are refused. */
export const unifiedPatchSchema = z.strictObject(
  {
    docker_compose_file: z.string().optional(),
    pre_launch_script: z.string().nullable().optional(),
    allowed_envs: z.array(envKey).optional(),
    public_logs: z.boolean().optional(),
    public_sysinfo: z.boolean().optional(),
    public_tcbinfo: z.boolean().optional(),
    encrypted_env: hex.optional(),
    env_keys: z.array(envKey).optional(),
    user_config: z.string().optional(),
    gpus: z.object({ count: z.number().int().nonnegative(), product_name: z.string().optional() }).nullable().optional(),
    vcpu: positiveInt('vcpu').optional(),
    memory: positiveInt('memory (MB)').optional(),
    disk_size: positiveInt('disk_size (GB)').optional(),
    // the Python SDK `phala-cloud`'s (sync) `update_cvm_resources` sends these here, as `PATCH /cvms/{id}/resources` takes them
    instance_type: z.string().min(1).optional().meta({ description: "An instance type of GET /instance-types: its vCPUs and memory, unless vcpu or memory is given too (the disk is left as it is: send disk_size)." }),
    allow_restart: z.union([z.boolean(), z.literal(0), z.literal(1)]).optional().meta({ description: 'false (or 0): refuse a change that would restart a running CVM (400 ERR-03-008) instead of restarting it. Left out: the change restarts it when it must.' }),
    image: z.string().min(1).optional(),
    shutdown_timeout: z.number().int().min(0).max(3600).optional(),
    allow_force_stop: z.boolean().optional(),
    listed: z.boolean().optional(),
  },
  { error: (iss) => (iss.code === 'unrecognized_keys' ? `unknown field(s) ${iss.keys.join(', ')}: PATCH /cvms/{id} takes ${UNIFIED_PATCH_FIELDS.join(', ')}` : undefined) },
);
export type UnifiedPatch = z.infer<typeof unifiedPatchSchema>;

/** `PATCH /cvms/{id}/resources`: the CLI sends `allow_restart` as 1/0, the SDK also passes the id fields. */
export const resourcesPatchSchema = z.object({
  vcpu: positiveInt('vcpu').nullish(),
  memory: positiveInt('memory (MB)').nullish(),
  disk_size: positiveInt('disk_size (GB)').nullish(),
  instance_type: z.string().nullish(),
  allow_restart: z.union([z.boolean(), z.literal(0), z.literal(1)]).nullish(),
});

export const visibilityPatchSchema = z.object({
  listed: z.boolean().optional(),
  public_sysinfo: z.boolean().optional(),
  public_logs: z.boolean().optional(),
  // null: left as it is (the Python SDK `phala-cloud` sends `"public_tcbinfo": null` when it is not given)
  public_tcbinfo: z.boolean().nullish(),
});

export const osImagePatchSchema = z.object({
  os_image_name: z.string({ error: 'os_image_name is required: one of GET /cvms/{id}/available-os-images' }).min(1),
});

/** `PATCH /cvms/{id}/envs`: a full replacement of the sealed env. */
export const envsPatchSchema = z.object({
  encrypted_env: hex,
  env_keys: z.array(envKey).nullish(),
  compose_hash: z.string().nullish(),
  transaction_hash: z.string().nullish(),
});

/** `PUT /cvms/{id}/compose`: the deprecated `phala cvms upgrade` (`PUT /cvms/app_{app_id}/compose`). Only the YAML and the env are taken from it. */
export const legacyComposeSchema = z.object({
  compose_manifest: z.object({
    docker_compose_file: z.string().nullish(),
    allowed_envs: z.array(envKey).nullish(),
  }, { error: 'compose_manifest is required: {docker_compose_file, allowed_envs}' }),
  encrypted_env: hex.nullish(),
  env_keys: z.array(envKey).nullish(),
  allow_restart: z.union([z.boolean(), z.literal(0), z.literal(1)]).nullish(),
});

/** `POST /cvms/{id}/compose_file/provision` (Phala's `ProvisionComposeFileUpdateRequest`; other fields are dropped). */
export const composeProvisionSchema = z.object({
  name: z.string().nullish(),
  docker_compose_file: z.string().nullish(),
  allowed_envs: z.array(envKey).nullish(),
  pre_launch_script: z.string().nullish(),
  bash_script: z.string().nullish(),
  init_script: z.string().nullish(),
  default_gateway_domain: z.string().nullish(),
  kms_enabled: z.boolean().nullish(),
  local_key_provider_enabled: z.boolean().nullish(),
  manifest_version: z.number().int().nullish(),
  no_instance_id: z.boolean().nullish(),
  public_logs: z.boolean().nullish(),
  public_sysinfo: z.boolean().nullish(),
  public_tcbinfo: z.boolean().nullish(),
  runner: z.string().nullish(),
  gateway_enabled: z.boolean().nullish(),
  tproxy_enabled: z.boolean().nullish(),
  features: z.array(z.string()).nullish(),
  salt: z.string().nullish(),
  secure_time: z.boolean().nullish(),
  storage_fs: z.enum(['ext4', 'zfs'], { error: 'storage_fs must be "ext4" or "zfs"' }).nullish(),
  update_env_vars: z.boolean().nullish(),
});

/** Phase two of a compose update (`POST …/compose_file/commit`, SDK: `PATCH …/compose_file`). */
export const composeCommitSchema = z.object({
  compose_hash: z
    .string({ error: 'compose_hash is required: pass the compose_hash that compose_file/provision returned' })
    .regex(/^(0x)?[0-9a-fA-F]{64}$/, 'compose_hash must be 64 hex characters, as compose_file/provision returned it'),
  encrypted_env: hex.nullish(),
  env_keys: z.array(envKey).nullish(),
  update_env_vars: z.boolean().nullish(),
  transaction_hash: z.string().nullish(),
});

/** `POST /cvms/{id}/commit-update`: the token carries the change; the hashes may be empty (CLI). */
export const commitUpdateSchema = z.object({
  token: z.string({ error: 'token is required: the commit_token a prepare-only PATCH returned' }).min(1, 'token must not be empty'),
  compose_hash: z.string().nullish(),
  transaction_hash: z.string().nullish(),
});

