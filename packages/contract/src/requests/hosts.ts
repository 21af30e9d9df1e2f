/** Requests of the host admin API (`/api/v1/admin/hosts…`): adding a dstack-vmm host to the registry. */
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

/** `POST /api/v1/admin/hosts`. */
export const addHostRequestSchema = z.strictObject({
  name: z
    .string({ error: 'name must be text' })
    .regex(HOST_NAME, 'name must be 1 to 63 letters, digits, ".", "_" or "-", starting with a letter or digit')
    .refine((n) => !/^\d+$/.test(n), 'name must not be only digits (a number names a host by its id)'),
  url: z
    .string({ error: 'url must be text' })
    .refine((u) => {
      try {
        const url = new URL(u);
        return (url.protocol === 'http:' || url.protocol === 'https:') && !url.search && !url.hash;
      } catch {
        return false;
      }
    }, "url must be the host's dstack-vmm URL, http:// or https:// without query or fragment, e.g. http://10.0.0.5:9080"),
  /** the bearer token dstack-vmm's auth asks for (`[auth] tokens` in its vmm.toml); stored sealed, never returned */
  auth_token: z.string().min(1, 'auth_token must not be empty (leave it out if the host has no auth)').max(4096).regex(/^[\x21-\x7e]+$/, 'auth_token must be printable ASCII without spaces').optional(),
  /** the token this host's guests present to this server's KMS; stored as its SHA-256 only */
  kms_token: z.string().min(16, 'kms_token is at least 16 characters').max(4096).regex(/^[\x21-\x7e]+$/, 'kms_token must be printable ASCII without spaces').optional(),
  region: z.string().regex(HOST_NAME, 'region must be 1 to 63 letters, digits, ".", "_" or "-"').default('local'),
  labels: z
    .record(z.string().regex(LABEL_KEY, 'a label key is 1 to 63 letters, digits, ".", "_", "/" or "-"'), z.string().max(256, 'a label value is at most 256 characters'))
    .refine((l) => Object.keys(l).length <= 64, 'at most 64 labels')
    .default({}),
  capacity: hostCapacityRequestSchema.default({}),
  /** a dev host (its guests may be debugged) rather than a production one */
  dev: z.boolean({ error: 'dev must be true or false' }).default(false),
  /** whether apps of an on-chain KMS (ETHEREUM, BASE) may be placed here */
  onchain_kms: z.boolean({ error: 'onchain_kms must be true or false' }).default(true),
  /** the host's TDX device id (PPID-derived, 32 bytes hex) as on-chain allow-lists name it */
  device_id: z.string().regex(/^(0x)?[0-9a-fA-F]{64}$/, 'device_id must be 64 hex characters (0x optional)').optional(),
});
export type AddHostRequest = z.input<typeof addHostRequestSchema>;
