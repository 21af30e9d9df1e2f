/** Requests of the host admin API (`/api/v1/admin/hosts…`): adding a dstack-vmm host to the registry, changing one. */
import { z } from 'zod';

const whole = (name: string, min: number) =>
  z.number({ error: `${name} must be a number` }).int(`${name} must be a whole number`).min(min, `${name} is at least ${min}`);

/** A GPU of a host, as dstack-vmm's `ListGpus` names it. */
export const hostGpuSchema = z.strictObject({
  slot: z.string({ error: 'slot must be text' }).min(1, 'slot must not be empty').max(64),
  product_id: z.string({ error: 'product_id must be text' }).min(1, 'product_id must not be empty').max(64),
  description: z.string().max(200).default(''),
});

/** What the operator sets of a host's capacity; each given value wins over what the host reports. */
export const hostCapacityRequestSchema = z.strictObject({
  vcpu: whole('capacity.vcpu', 1).optional(),
  memory_mb: whole('capacity.memory_mb', 1).optional(),
  disk_gb: whole('capacity.disk_gb', 1).optional(),
  slots: whole('capacity.slots', 1).optional(),
  gpus: z.array(hostGpuSchema).max(64).optional(),
});

const HOST_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const LABEL_KEY = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$/;

const hostUrl = z
  .string({ error: 'url must be text' })
  .refine((u) => {
    try {
      const url = new URL(u);
      return (url.protocol === 'http:' || url.protocol === 'https:') && !url.search && !url.hash;
    } catch {
      return false;
    }
  }, "url must be the host's dstack-vmm URL, http:// or https:// without query or fragment, e.g. http://10.0.0.5:9080");
/** the bearer token dstack-vmm's auth asks for (`[auth] tokens` in its vmm.toml); stored sealed, never returned */
const authToken = z.string({ error: 'auth_token must be text' }).min(1, 'auth_token must not be empty (leave it out if the host has no auth)').max(4096).regex(/^[\x21-\x7e]+$/, 'auth_token must be printable ASCII without spaces');
/** the token this host's guests present to this server's KMS; stored as its SHA-256 only */
const kmsToken = z.string({ error: 'kms_token must be text' }).min(16, 'kms_token is at least 16 characters').max(4096).regex(/^[\x21-\x7e]+$/, 'kms_token must be printable ASCII without spaces');
const region = z.string({ error: 'region must be text' }).regex(HOST_NAME, 'region must be 1 to 63 letters, digits, ".", "_" or "-"');
const labels = z
  .record(z.string().regex(LABEL_KEY, 'a label key is 1 to 63 letters, digits, ".", "_", "/" or "-"'), z.string({ error: 'a label value must be text' }).max(256, 'a label value is at most 256 characters'), { error: 'labels must be an object of text values' })
  .refine((l) => Object.keys(l).length <= 64, 'at most 64 labels');
/** a dev host (its guests may be debugged) rather than a production one */
const dev = z.boolean({ error: 'dev must be true or false' });
/** whether apps of an on-chain KMS (ETHEREUM, BASE) may be placed here */
const onchainKms = z.boolean({ error: 'onchain_kms must be true or false' });
/** the host's TDX device id (PPID-derived, 32 bytes hex) as on-chain allow-lists name it */
const deviceId = z.string({ error: 'device_id must be text' }).regex(/^(0x)?[0-9a-fA-F]{64}$/, 'device_id must be 64 hex characters (0x optional)');

/** `POST /api/v1/admin/hosts`. */
export const addHostRequestSchema = z.strictObject({
  name: z
    .string({ error: 'name must be text' })
    .regex(HOST_NAME, 'name must be 1 to 63 letters, digits, ".", "_" or "-", starting with a letter or digit')
    .refine((n) => !/^\d+$/.test(n), 'name must not be only digits (a number names a host by its id)'),
  url: hostUrl,
  auth_token: authToken.optional(),
  kms_token: kmsToken.optional(),
  region: region.default('local'),
  labels: labels.default({}),
  capacity: hostCapacityRequestSchema.default({}),
  dev: dev.default(false),
  onchain_kms: onchainKms.default(true),
  device_id: deviceId.optional(),
});
export type AddHostRequest = z.input<typeof addHostRequestSchema>;

/**
 * What `PATCH /api/v1/admin/hosts/{host}` may change of a capacity: a number sets the operator's value (it wins
 * over what the host reports, now and at each refresh); `null` drops it (back to the host's own; disk: not capped).
 */
export const patchHostCapacitySchema = z.strictObject({
  vcpu: whole('capacity.vcpu', 1).nullable().optional(),
  memory_mb: whole('capacity.memory_mb', 1).nullable().optional(),
  disk_gb: whole('capacity.disk_gb', 1).nullable().optional(),
  slots: whole('capacity.slots', 1).nullable().optional(),
  gpus: z.array(hostGpuSchema).max(64).nullable().optional(),
});

/**
 * `PATCH /api/v1/admin/hosts/{host}`: only the fields given change. A new `url` or `auth_token` is tried on the
 * host before anything is written; `auth_token: null` (or `kms_token: null`) forgets the token.
 */
export const patchHostRequestSchema = z
  .strictObject({
    url: hostUrl.optional(),
    auth_token: authToken.nullable().optional(),
    kms_token: kmsToken.nullable().optional(),
    region: region.optional(),
    /** replaces every label */
    labels: labels.optional(),
    capacity: patchHostCapacitySchema.optional(),
    dev: dev.optional(),
    onchain_kms: onchainKms.optional(),
    device_id: deviceId.optional(),
  })
  .refine((b) => Object.values(b).some((v) => v !== undefined), 'give at least one field to change: url, auth_token, kms_token, region, labels, capacity, dev, onchain_kms or device_id');
export type PatchHostRequest = z.input<typeof patchHostRequestSchema>;
