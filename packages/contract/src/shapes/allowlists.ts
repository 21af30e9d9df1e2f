/**
 * Answers about what the chain (on-chain KMS) or the database (PHALA KMS) allows: the KMS contract's allow-lists,
 * an app's device allow-list, and whether an app may boot a compose hash on a device.
 */
import { z } from 'zod';

/** One node's device, and whether the KMS contract's `kmsAllowedDeviceIds` lists it. */
export const onChainKmsDeviceSchema = z
  .strictObject({
    device_id: z.string(),
    node_name: z.string().nullable(),
    on_chain_allowed: z.boolean().nullable(),
  })
  .meta({ id: 'OnChainKmsDevice' });

/** One OS image the nodes have, and whether the KMS contract's `allowedOsImages` lists its hash (null: no hash). */
export const onChainKmsOsImageSchema = z
  .strictObject({
    name: z.string(),
    version: z.string(),
    os_image_hash: z.string().nullable(),
    on_chain_allowed: z.boolean().nullable(),
  })
  .meta({ id: 'OnChainKmsOsImage' });

/** `GET /kms/on-chain/{chain}`: the chain's KMS contract and what it allows of this server's nodes and images. */
export const kmsOnChainDetailSchema = z
  .strictObject({
    chain_name: z.string(),
    chain_id: z.number().int(),
    contracts: z.array(
      z.strictObject({
        contract_address: z.string(),
        chain_name: z.string(),
        chain_id: z.number().int(),
        devices: z.array(onChainKmsDeviceSchema),
        os_images: z.array(onChainKmsOsImageSchema),
      }),
    ),
  })
  .meta({ id: 'KmsOnChainDetail' });

/** One device of an app's allow-list. */
export const deviceAllowlistItemSchema = z
  .strictObject({
    device_id: z.string(),
    node_name: z.string().nullable(),
    /** the app's live CVMs on this device's node */
    cvm_ids: z.array(z.number().int()),
    /** the app contract's `allowedDeviceIds` lists it (always false for a PHALA app: it has no contract) */
    allowed_onchain: z.boolean(),
    /** `allowed` or `not-allowed` */
    status: z.enum(['allowed', 'not-allowed']),
  })
  .meta({ id: 'DeviceAllowlistItem' });

/** `GET /apps/{app_id}/device-allowlist`. */
export const deviceAllowlistSchema = z
  .strictObject({
    is_onchain_kms: z.boolean(),
    allow_any_device: z.boolean().nullable(),
    chain_id: z.number().int().nullable(),
    app_contract_address: z.string().nullable(),
    devices: z.array(deviceAllowlistItemSchema),
  })
  .meta({ id: 'DeviceAllowlist' });

/** Whether an app may boot a compose hash on a device (`IsAllowed`). */
export const isAllowedSchema = z
  .strictObject({
    cvm_id: z.number().int().optional(),
    app_contract_address: z.string(),
    compose_hash: z.string(),
    /** the device checked ('' when none was given) */
    device_id: z.string(),
    compose_hash_allowed: z.boolean(),
    allow_any_device: z.boolean(),
    /** null when no device was checked */
    device_id_allowed: z.boolean().nullable(),
    is_allowed: z.boolean(),
    /** why it is not allowed beyond the hash and the device (an app not registered in the KMS contract, no contract) */
    error: z.string().nullable(),
  })
  .meta({ id: 'IsAllowed' });

/** `POST /apps/{app_id}/cvms/is-allowed`: each live CVM of the app, its compose hash on its node's device. */
export const appCvmsIsAllowedSchema = z
  .strictObject({
    is_onchain: z.boolean(),
    results: z.array(isAllowedSchema.extend({ cvm_id: z.number().int() })),
    total: z.number().int(),
    allowed_count: z.number().int(),
    denied_count: z.number().int(),
    error_count: z.number().int(),
    /** CVMs whose node reports no device id */
    skipped_cvm_ids: z.array(z.number().int()),
  })
  .meta({ id: 'AppCvmsIsAllowed' });
