/** Catalogue answers: instance types, OS images, KMS instances, nodes, workspaces, quotas, the caller. */
import { z } from 'zod';
import { kmsInfoSchema, nodeRefSchema, nullableString, pageOf, timestamp } from './common.ts';

/** `InstanceType` (price shown, never charged). */
export const instanceTypeSchema = z
  .strictObject({
    id: z.string(),
    name: z.string(),
    description: z.string(),
    vcpu: z.number().int(),
    memory_mb: z.number().int(),
    hourly_rate: z.string(),
    requires_gpu: z.boolean(),
    default_disk_size_gb: z.number().int(),
    family: z.string(),
  })
  .meta({ id: 'InstanceType' });

/** `GET /instance-types` (the official SDK refuses any extra key here). */
export const instanceTypeFamiliesSchema = z.strictObject({
  result: z.array(z.strictObject({ name: z.string(), items: z.array(instanceTypeSchema), total: z.number().int() })),
});
export const instanceTypeFamilySchema = z.strictObject({ items: z.array(instanceTypeSchema), total: z.number().int(), family: z.string() });

export const osImageSchema = z
  .strictObject({
    name: z.string(),
    slug: z.string(),
    version: z.string(),
    os_image_hash: nullableString,
    is_dev: z.boolean(),
    requires_gpu: z.boolean(),
  })
  .meta({ id: 'OsImage' });
export const osImagePageSchema = pageOf(osImageSchema);

/** `GET /kms` (the official SDK refuses any extra key here). */
export const kmsPageSchema = pageOf(kmsInfoSchema);

/**
 * A KMS contract (X-Phala-Version 2026-06-23, the Python SDK `phala-cloud`'s `KmsContract`): a group of KMS nodes
 * sharing one root key. Here each KMS of `GET /kms` is one contract with one node, this server's key service:
 * `contract_address` is the chain's KMS contract for ETHEREUM/BASE and `"phala"` for PHALA (`chain_id` 0 there);
 * `k256_pubkey` the root key's compressed secp256k1 public key, which signs the apps' env keys.
 */
export const kmsContractSchema = z
  .strictObject({
    id: z.string(),
    slug: nullableString,
    label: nullableString,
    contract_address: z.string(),
    chain_id: z.number().int(),
    k256_pubkey: nullableString,
    ca_pubkey: nullableString,
    node_count: z.number().int().min(0),
  })
  .meta({ id: 'KmsContract' });
export const kmsContractPageSchema = pageOf(kmsContractSchema);

/** A KMS node under a contract (2026-06-23's `KmsContractNode`): its RPC `url`. */
export const kmsContractNodeSchema = z
  .strictObject({ id: z.string(), slug: nullableString, url: z.string(), version: z.string(), kms_type: z.string() })
  .meta({ id: 'KmsContractNode' });
export const kmsContractNodesSchema = z.strictObject({ items: z.array(kmsContractNodeSchema), total: z.number().int().min(0) });

/** `GET /kms/{kms}/pubkey/{app_id}`: the app's X25519 env key and the KMS's secp256k1 signature of it. */
export const signedPubkeySchema = z
  .strictObject({ public_key: z.string().regex(/^[0-9a-f]{64}$/), signature: z.string().regex(/^[0-9a-f]{130}$/) })
  .meta({ id: 'SignedEnvPublicKey' });

/** `GET /kms/phala/next_app_id`: the PHALA-KMS app ids the workspace's next provisions would get, with their nonces. */
export const nextAppIdsSchema = z
  .strictObject({
    app_ids: z.array(z.strictObject({ app_id: z.string().regex(/^[0-9a-f]{40}$/), nonce: z.number().int().min(0) })),
  })
  .meta({ id: 'NextAppIds' });

/**
 * [major, minor, patch(, build)]: three or four numbers. An array with a length range rather than a union of
 * tuples: the same values, and a JSON Schema (`items` + `minItems`/`maxItems`) that OpenAPI tools which do not
 * read 2020-12's `prefixItems` (schemathesis among them) still understand.
 */
const versionTuple = z.array(z.number()).min(3).max(4);

/** A node with its free capacity (-1: not capped) and images: Phala's `TeepodCapacity`. */
export const teepodCapacitySchema = z.strictObject({
  teepod_id: z.number().int(),
  name: z.string(),
  listed: z.boolean(),
  resource_score: z.number(),
  remaining_vcpu: z.number().int(),
  remaining_memory: z.number().int(),
  remaining_cvm_slots: z.number().int(),
  images: z.array(
    z.strictObject({ name: z.string(), is_dev: z.boolean(), version: versionTuple, os_image_hash: nullableString, requires_gpu: z.boolean() }),
  ),
  support_onchain_kms: z.boolean(),
  fmspc: nullableString,
  device_id: z.string(),
  region_identifier: z.string(),
  default_kms: nullableString,
  kms_list: z.array(z.string()),
  gateway_base_domain: nullableString,
});

/** `GET /teepods/available`: nodes with free capacity (-1: not capped) and their images. */
export const availableNodesSchema = z.strictObject({
  tier: z.string(),
  capacity: z.strictObject({ max_instances: z.null(), max_vcpu: z.null(), max_memory: z.null(), max_disk: z.null() }),
  nodes: z.array(teepodCapacitySchema),
  kms_list: z.array(kmsInfoSchema),
});

/**
 * `GET /teepods/cvm-create-resources` (the Python SDK's `get_cvm_create_resources`, Phala's
 * `CvmCreateResourceGraphV20260121` / `V20260522`): everything a CVM can be created with, in one read. The two
 * versions differ only in whether ids may be integers (2026-01-21: `int | str`; 2026-05-22: `str`); every id here
 * is a string, so one shape answers both.
 */
const maybeLimit = z.number().int().min(0).nullable();
export const cvmCreateResourcesSchema = z
  .strictObject({
    tier: z.string(),
    /** the workspace's limits, as `GET /workspaces/{slug}/quotas` counts them (null: not capped) */
    capacity: z.strictObject({ max_instances: maybeLimit, max_vcpu: maybeLimit, max_memory: maybeLimit, max_disk: maybeLimit }),
    nodes: z.array(teepodCapacitySchema),
    kms_nodes: z.array(
      z.strictObject({
        id: z.string(),
        slug: nullableString,
        url: z.string(),
        version: z.string(),
        kms_type: z.string(),
        chain_id: z.number().int().nullable(),
        kms_contract_id: z.string(),
        kms_contract_address: nullableString,
        gateway_app_id: nullableString,
        supported_os_images: z.array(z.string()),
      }),
    ),
    node_kms_relations: z.array(
      z.strictObject({
        teepod_id: z.number().int(),
        kms_id: z.string(),
        kms_type: z.string(),
        kms_contract_id: z.string(),
        kms_contract_address: nullableString,
        supported_os_images: z.array(z.string()),
      }),
    ),
    gateway_nodes: z.array(
      z.strictObject({
        id: z.string(),
        teepod_id: z.number().int(),
        kms_contract_id: z.string(),
        rpc_url: nullableString,
        domain_suffix: z.string(),
        enabled: z.boolean(),
      }),
    ),
    instance_types: z.array(
      z.strictObject({
        id: z.string(),
        name: z.string(),
        vcpu: z.number().int(),
        memory_mb: z.number().int(),
        default_disk_size_gb: z.number().int(),
        requires_gpu: z.boolean(),
        requires_gpu_count: z.number().int().min(0),
        family: z.string(),
        display_order: z.number().int(),
      }),
    ),
    gpu_availability: z.strictObject({
      has_reserved_gpus: z.boolean(),
      reserved_gpu_count: z.number().int().min(0),
      has_public_gpus: z.boolean(),
      public_gpu_count: z.number().int().min(0),
    }),
  })
  .meta({ id: 'CvmCreateResourceGraph' });

/** `GET /cvms/{id}/available-os-images`: the node's images that suit the CVM, newest version first. */
export const availableOsImagesSchema = z.array(
  z.strictObject({
    version: z.array(z.number()),
    prod: z.strictObject({ name: z.string(), os_image_hash: nullableString, is_current: z.boolean() }).nullable(),
    dev: z.strictObject({ name: z.string(), os_image_hash: nullableString, is_current: z.boolean() }).nullable(),
  }),
);

export const workspaceSchema = z
  .strictObject({
    id: z.string(),
    name: z.string(),
    slug: z.string(),
    tier: z.string(),
    role: z.string(),
    is_default: z.boolean(),
    created_at: timestamp,
  })
  .meta({ id: 'Workspace' });

export const workspaceListSchema = z.strictObject({
  data: z.array(workspaceSchema),
  pagination: z.strictObject({ has_more: z.boolean(), next_cursor: nullableString, total: z.number().int() }),
});

export const workspaceNodesSchema = pageOf(nodeRefSchema);

const quota = z.strictObject({ limit: z.number().int(), remaining: z.number().int() });
export const workspaceQuotasSchema = z.strictObject({
  team_slug: z.string(),
  tier: z.string(),
  quotas: z.strictObject({ vm_slots: quota, vcpu: quota, memory_mb: quota, disk_gb: quota }),
  reserved_nodes: quota,
  reserved_gpu: z.strictObject({ gpus: quota, in_use: z.number().int(), misconfigured: z.number().int() }),
  as_of: timestamp,
});

/** `GET /auth/me` under 2025-10-28. */
export const currentUserV2025Schema = z
  .strictObject({
    username: z.string(),
    email: z.string(),
    credits: z.number(),
    granted_credits: z.number(),
    avatar: z.string(),
    team_name: z.string(),
    team_tier: z.string(),
  })
  .meta({ id: 'CurrentUserV20251028' });

/** `GET /auth/me` under 2026-01-21. */
export const currentUserV2026Schema = z
  .strictObject({
    user: z.strictObject({
      username: z.string(),
      email: z.string(),
      role: z.enum(['admin', 'user']),
      avatar: z.string(),
      email_verified: z.boolean(),
      totp_enabled: z.boolean(),
      has_backup_codes: z.boolean(),
      flag_has_password: z.boolean(),
    }),
    workspace: z.strictObject({ id: z.string(), name: z.string(), slug: z.string(), tier: z.string(), role: z.string(), avatar: z.null() }),
    credits: z.strictObject({ balance: z.number(), granted_balance: z.number(), is_post_paid: z.boolean(), outstanding_amount: z.null() }),
  })
  .meta({ id: 'CurrentUserV20260121' });
