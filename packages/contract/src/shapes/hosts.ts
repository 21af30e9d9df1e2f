/** Answers of the host admin API. No answer carries a host's auth token or KMS token: only whether one is set. */
import { z } from 'zod';
import { nullableString, nullableTimestamp, timestamp } from './common.ts';

const int = z.number().int().nonnegative();

export const hostGpuInfoSchema = z.strictObject({ slot: z.string(), product_id: z.string(), description: z.string() });

export const hostSchema = z
  .strictObject({
    id: z.number().int().positive(),
    name: z.string(),
    url: z.string(),
    region: z.string(),
    labels: z.record(z.string(), z.string()),
    /**
     * `online` (it answers), `offline` (it did not answer when registered or refreshed), `unreachable` (it
     * stopped answering the reconciler's reads for several ticks in a row; its CVMs keep their last known
     * status), or `removed` (the answer of a removal)
     */
    status: z.string(),
    /** since when the host has been `unreachable` (null otherwise) */
    unreachable_since: nullableTimestamp,
    /** the last error of a host that is `unreachable` (null once it answers) */
    last_error: nullableString,
    /** no new CVMs are placed here while set; those already here keep running */
    cordoned: z.boolean(),
    dev: z.boolean(),
    onchain_kms: z.boolean(),
    device_id: z.string(),
    version: nullableString,
    gateway_base_domain: nullableString,
    /** `config` (OPENCVM_HOSTS or the simulated host) or `admin` (added with this API) */
    source: z.enum(['config', 'admin']),
    /** what placement counts against: the operator's values where given, else what the host reports (0: no limit) */
    capacity: z.strictObject({ vcpu: int, memory_mb: int, disk_gb: int, slots: int, gpus: z.array(hostGpuInfoSchema) }),
    /** what the operator set through this API (wins over the host's report at each refresh, and over OPENCVM_HOSTS at each start) */
    overridden: z.array(z.enum(['vcpu', 'memory_mb', 'slots', 'gpus', 'device_id', 'region'])),
    /** what the live CVMs placed here reserve */
    used: z.strictObject({ cvms: int, vcpu: int, memory_mb: int, disk_gb: int }),
    images: z.array(z.strictObject({ name: z.string(), version: z.string(), is_dev: z.boolean(), requires_gpu: z.boolean() })),
    auth_token_set: z.boolean(),
    kms_token_set: z.boolean(),
    refreshed_at: nullableTimestamp,
    created_at: timestamp,
  })
  .meta({ id: 'Host' });
export type Host = z.output<typeof hostSchema>;

export const hostListSchema = z.strictObject({ items: z.array(hostSchema), total: int });

/** A live CVM on a host (what a drain reports and a removal waits for). */
export const hostCvmSchema = z.strictObject({
  id: z.number().int().positive(),
  name: z.string(),
  app_id: z.string(),
  vm_uuid: z.string(),
  status: z.string(),
  workspace_id: z.number().int().positive(),
});

export const drainResultSchema = z.strictObject({
  host: hostSchema,
  /** the live CVMs still on the host: a drain moves none of them (delete or re-deploy them elsewhere) */
  cvms: z.array(hostCvmSchema),
  message: z.string(),
});
