import { z } from 'zod';
import { parse as parseYaml } from 'yaml';
import { ApiError, ErrorCodes, badRequest } from './errors.ts';
import { canonicalJson } from './compose-hash.ts';

/** CVM names double as hostnames: 5–63 characters, a letter first, then letters, digits and hyphens. */
export const CVM_NAME_RULE = '5–63 characters, starting with a letter, using only letters, digits and hyphens';
const NAME_RE = /^(?!.*--)[A-Za-z][A-Za-z0-9-]{3,61}[A-Za-z0-9]$/;

export const cvmNameSchema = z
  .string({ error: 'name is required: a string of ' + CVM_NAME_RULE })
  .refine((s) => NAME_RE.test(s), {
    error: (iss) => `"${String(iss.input)}" is not a valid CVM name: use ${CVM_NAME_RULE} (no "--", and no hyphen at the end)`,
  });

/** Combined limit on `docker_compose_file` + `pre_launch_script` (seed 000). */
export const MAX_COMPOSE_BYTES = 200 * 1024;

const strList = z.array(z.string());
const optStr = z.string().nullish();
const optBool = z.boolean().nullish();
const optInt = z.number().int().nullish();

/** `AppComposeV2` as a provision request carries it (seed 001), plus the SDK's `tproxy_enabled` alias. */
export const appComposeInputSchema = z.object({
  docker_compose_file: optStr,
  allowed_envs: strList.nullish(),
  pre_launch_script: optStr,
  bash_script: optStr,
  init_script: optStr,
  default_gateway_domain: optStr,
  name: optStr,
  kms_enabled: optBool,
  local_key_provider_enabled: optBool,
  manifest_version: optInt,
  no_instance_id: optBool,
  public_logs: optBool,
  public_sysinfo: optBool,
  public_tcbinfo: optBool,
  runner: optStr,
  gateway_enabled: optBool,
  tproxy_enabled: optBool,
  features: strList.nullish(),
  salt: optStr,
  secure_time: optBool,
  storage_fs: z.enum(['ext4', 'zfs'], { error: 'storage_fs must be "ext4" or "zfs"' }).nullish(),
});
export type AppComposeInput = z.infer<typeof appComposeInputSchema>;

const portMappingSchema = z.object({
  protocol: z.enum(['tcp', 'udp'], { error: 'protocol must be "tcp" or "udp"' }),
  host_port: z.number().int().min(1).max(65535),
  vm_port: z.number().int().min(1).max(65535),
  host_address: optStr,
});

const gpuConfigSchema = z.object({
  gpus: z.array(z.object({ slot: z.string(), product_id: optStr })),
  attach_mode: z.string().nullish(),
});

/** `ProvisionDstackAppRequestV2` (seed 001) with the SDK's extra fields (seed 000, contract §2.5). */
export const provisionRequestSchema = z.object({
  name: cvmNameSchema,
  compose_file: appComposeInputSchema,
  instance_type: optStr,
  vcpu: z.number().int().positive().nullish(),
  memory: z.number().int().positive().nullish(),
  disk_size: z.number().int().positive().nullish(),
  image: optStr,
  prefer_dev: optBool,
  teepod_id: optInt,
  node_id: optInt,
  region: optStr,
  listed: optBool,
  kms_id: optStr,
  kms: optStr,
  kms_contract: optStr,
  nonce: z.number().int().nonnegative().nullish(),
  app_id: optStr,
  env_keys: strList.nullish(),
  ports: z.array(portMappingSchema).nullish(),
  encrypted_env: optStr,
  user_config: optStr,
  hugepages: optBool,
  pin_numa: optBool,
  gpus: gpuConfigSchema.nullish(),
  kms_urls: strList.nullish(),
  gateway_urls: strList.nullish(),
  secure_time: optBool,
  ssh_authorized_keys: strList.nullish(),
});
export type ProvisionRequest = z.infer<typeof provisionRequestSchema>;

/** `POST /cvms` (commit): the client sends this unvalidated, so every field is checked here. */
export const commitRequestSchema = z.object({
  app_id: z.string({ error: 'app_id is required: pass the app_id that provision returned' }).min(1),
  compose_hash: z
    .string({ error: 'compose_hash is required: pass the compose_hash that provision returned' })
    .regex(/^(0x)?[0-9a-fA-F]{64}$/, 'compose_hash must be 64 hex characters, as provision returned it'),
  encrypted_env: z
    .string()
    .regex(/^(0x)?([0-9a-fA-F]{2})*$/, 'encrypted_env must be the hex string encryptEnvVars returned')
    .nullish(),
  env_keys: strList.nullish(),
  kms_id: optStr,
  contract_address: optStr,
  deployer_address: optStr,
  transaction_hash: optStr,
});
export type CommitRequest = z.infer<typeof commitRequestSchema>;

/** The AppComposeV2 defaults of seed 001, in the order dstack documents them. */
export interface AppCompose {
  [key: string]: unknown;
  manifest_version: number;
  name: string;
  runner: string;
  docker_compose_file: string;
  allowed_envs: string[];
}

/**
 * Check a docker-compose YAML: it must parse and define at least one service.
 * Throws `ERR-01-003` with the parser's own words (line and column) otherwise.
 */
export function checkDockerCompose(yamlText: string): void {
  let doc: unknown;
  try {
    doc = parseYaml(yamlText);
  } catch (e) {
    throw badRequest(ErrorCodes.INVALID_COMPOSE_FILE, `docker_compose_file is not valid YAML: ${(e as Error).message}`);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) {
    throw badRequest(ErrorCodes.INVALID_COMPOSE_FILE, 'docker_compose_file must be a YAML mapping with a "services" section');
  }
  const services = (doc as Record<string, unknown>).services;
  if (!services || typeof services !== 'object' || Array.isArray(services) || Object.keys(services).length === 0) {
    throw badRequest(
      ErrorCodes.INVALID_COMPOSE_FILE,
      'docker_compose_file has no services: add a "services:" section with at least one service',
    );
  }
}

/** Byte size check for compose + pre-launch script (seed 000: at most 200 KB together). */
export function checkComposeSize(compose: string, preLaunch?: string | null): void {
  const bytes = Buffer.byteLength(compose, 'utf8') + Buffer.byteLength(preLaunch ?? '', 'utf8');
  if (bytes > MAX_COMPOSE_BYTES) {
    throw new ApiError(413, ErrorCodes.INVALID_COMPOSE_FILE,
      `docker_compose_file and pre_launch_script together are ${bytes} bytes; the limit is ${MAX_COMPOSE_BYTES} bytes (200 KB)`);
  }
}

/**
 * Build the app-compose the host will receive from a provision's `compose_file`, filling in the
 * AppComposeV2 defaults of seed 001. Optional fields left unset stay absent (they are hashed as sent).
 */
export function buildAppCompose(input: AppComposeInput, cvmName: string, envKeys?: string[] | null): AppCompose {
  const gateway = input.gateway_enabled ?? input.tproxy_enabled ?? true;
  const compose: AppCompose = {
    manifest_version: input.manifest_version ?? 2,
    name: input.name || cvmName,
    runner: input.runner || 'docker-compose',
    docker_compose_file: input.docker_compose_file ?? '',
    allowed_envs: input.allowed_envs ?? envKeys ?? [],
    features: input.features ?? ['kms', 'tproxy-net'],
    gateway_enabled: gateway,
    tproxy_enabled: gateway,
    kms_enabled: input.kms_enabled ?? true,
    local_key_provider_enabled: input.local_key_provider_enabled ?? false,
    no_instance_id: input.no_instance_id ?? false,
    public_logs: input.public_logs ?? true,
    public_sysinfo: input.public_sysinfo ?? true,
    public_tcbinfo: input.public_tcbinfo ?? true,
    secure_time: input.secure_time ?? false,
    storage_fs: input.storage_fs ?? 'zfs',
  };
  for (const key of ['pre_launch_script', 'bash_script', 'init_script', 'default_gateway_domain', 'salt'] as const) {
    const value = input[key];
    if (value) compose[key] = value;
  }
  return compose;
}

/** The exact string sent to the host and hashed: compact JSON with sorted keys (dstack-facts §1.2). */
export function serializeAppCompose(compose: AppCompose): string {
  return canonicalJson(compose);
}
