/** Small shapes many answers share. */
import { z } from 'zod';

export const nullableString = z.string().nullable();
/** An ISO 8601 timestamp as the API writes it (`Date.toISOString()`). */
export const timestamp = z.iso.datetime({ offset: true });
export const nullableTimestamp = timestamp.nullable();
export const hex = (bytes?: number) =>
  bytes === undefined ? z.string().regex(/^[0-9a-f]*$/) : z.string().regex(new RegExp(`^[0-9a-f]{${bytes * 2}}$`));
/** A CVM's `vm_uuid`: a dashed, lowercase UUID. */
export const uuid = z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
/** A 40-hex app id (no prefix). */
export const appIdHex = z.string().regex(/^[0-9a-f]{40}$/);
export const composeHashHex = z.string().regex(/^[0-9a-f]{64}$/);

/** `KmsInfo` (Phala's `KmsInfoSchema`; every key present). */
export const kmsInfoSchema = z
  .strictObject({
    id: z.string(),
    slug: nullableString,
    url: z.string(),
    version: z.string(),
    chain_id: z.number().int().nullable(),
    kms_contract_address: nullableString,
    gateway_app_id: nullableString,
  })
  .meta({ id: 'KmsInfo' });

/** One gateway URL pair: the app's (any instance) and this instance's (empty until its id is known). */
export const gatewayUrlSchema = z.strictObject({ app: z.string(), instance: z.string() }).meta({ id: 'GatewayUrl' });

/** `{id, name, region_identifier}` of the node a CVM runs on (v2025 shapes). */
export const teepodRefSchema = z.strictObject({ id: z.number().int(), name: z.string(), region_identifier: nullableString });

export const machineInfoSchema = z
  .strictObject({ vcpu: z.number().int(), memory: z.number().int(), disk_size: z.number().int(), gpu_count: z.number().int() })
  .meta({ id: 'MachineInfo' });

/** `NodeRef` (`object_type: "node"`). */
export const nodeRefSchema = z
  .strictObject({
    object_type: z.literal('node'),
    id: z.number().int(),
    name: z.string(),
    region: nullableString,
    device_id: nullableString,
    ppid: nullableString,
    status: nullableString,
    version: nullableString,
  })
  .meta({ id: 'NodeRef' });

export const workspaceRefSchema = z
  .strictObject({ object_type: z.literal('workspace'), id: z.string(), name: z.string(), slug: nullableString, avatar_url: nullableString })
  .meta({ id: 'WorkspaceRef' });

export const userRefSchema = z
  .strictObject({ object_type: z.literal('user'), id: z.string(), username: nullableString, avatar_url: nullableString })
  .meta({ id: 'UserRef' });

export const cvmRefSchema = z
  .strictObject({ object_type: z.literal('cvm'), id: z.string(), name: z.string(), app_id: z.string(), vm_uuid: z.string() })
  .meta({ id: 'CvmRef' });

/** `{items, total, page, page_size, pages}`: the page shape of `/cvms/paginated`, `/kms`, `/os-images`, workspace nodes. */
export const pageOf = <T extends z.ZodType>(item: T) =>
  z.strictObject({
    items: z.array(item),
    total: z.number().int().nonnegative(),
    page: z.number().int().positive(),
    page_size: z.number().int().positive(),
    pages: z.number().int().positive(),
  });

export const healthSchema = z.strictObject({ status: z.literal('ok') });
