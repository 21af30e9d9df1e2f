/** Requests of the two-phase deploy: `POST /cvms/provision` and its commit, `POST /cvms`. */
import { z } from 'zod';

/** CVM names double as hostnames: 5–63 characters, a letter first, then letters, digits and hyphens. */
export const CVM_NAME_RULE = '5–63 characters, starting with a letter, using only letters, digits and hyphens';
const NAME_RE = /^(?!.*--)[A-Za-z][A-Za-z0-9-]{3,61}[A-Za-z0-9]$/;

export const cvmNameSchema = z
  .string({ error: 'name is required: a string of ' + CVM_NAME_RULE })
  .refine((s) => NAME_RE.test(s), {
    error: (iss) => `"${String(iss.input)}" is not a valid CVM name: use ${CVM_NAME_RULE} (no "--", and no hyphen at the end)`,
  });

const strList = z.array(z.string());
const optStr = z.string().nullish();
const optBool = z.boolean().nullish();
const optInt = z.number().int().nullish();

/** dstack's `AppComposeV2` as a provision request carries it, plus the official SDK's `tproxy_enabled` alias. */
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

/** Phala Cloud's `ProvisionDstackAppRequestV2`, with the fields the official SDK and CLI add (`prefer_dev`, `kms`, `nonce`, `app_id`, ...). */
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
  /**
   * opencvm's extension (the official clients do not send it): labels the host must carry, each with exactly
   * this value, e.g. `{"tier": "gold"}`. The operator sets a host's labels when adding it (admin API).
   */
  node_labels: z
    .record(z.string().min(1, 'a node_labels key must not be empty').max(63), z.string().max(256, 'a node_labels value is at most 256 characters'))
    .refine((l) => Object.keys(l).length <= 64, 'node_labels holds at most 64 labels')
    .nullish()
    .meta({ description: "opencvm extension: labels the host must carry, each with exactly this value (e.g. {\"tier\": \"gold\"}); hosts get their labels from the operator (admin API)" }),
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

