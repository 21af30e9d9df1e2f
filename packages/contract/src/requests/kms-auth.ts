/**
 * dstack-kms's auth webhook request: the `BootInfo` its `kms/src/main_service/upgrade_authority.rs` POSTs to
 * `<webhook url>/bootAuth/app` and `/bootAuth/kms` (the fields of dstack's `verifier/src/types.rs`
 * `PolicyBootInfo`, camelCase). dstack-kms sends byte fields as lowercase hex without `0x`; as dstack's auth-eth,
 * a `0x` prefix is accepted and a shorter value is left-padded with zeros to the field's size. Fields dstack may
 * add later are ignored.
 */
import { z } from 'zod';

/** Hex of at most `bytes` bytes (an even number of digits, `0x` optional), or empty where `empty`. */
const hexField = (name: string, bytes: number, opts: { empty?: boolean } = {}) =>
  z
    .string({ error: `${name} must be a hex string` })
    .regex(/^(0x)?([0-9a-fA-F]{2})*$/, `${name} must be hex (pairs of 0-9a-f digits, 0x optional)`)
    .refine((v) => v.replace(/^0x/, '').length <= bytes * 2, `${name} is at most ${bytes} bytes (${bytes * 2} hex digits)`)
    .refine((v) => opts.empty || v.replace(/^0x/, '').length > 0, `${name} must not be empty`)
    .meta({ description: `${bytes} bytes as hex${opts.empty ? ' (empty: none)' : ''}` });

export const bootInfoSchema = z
  .object(
    {
      appId: hexField('appId', 20),
      composeHash: hexField('composeHash', 32),
      instanceId: hexField('instanceId', 20, { empty: true }),
      deviceId: hexField('deviceId', 32, { empty: true }),
      mrAggregated: hexField('mrAggregated', 32, { empty: true }),
      osImageHash: hexField('osImageHash', 32, { empty: true }),
      mrSystem: hexField('mrSystem', 32, { empty: true }).optional(),
      tcbStatus: z.string({ error: 'tcbStatus must be a string, e.g. "UpToDate"' }).max(100, 'tcbStatus is at most 100 characters'),
      advisoryIds: z
        .array(z.string({ error: 'each advisory id must be a string' }).max(100, 'an advisory id is at most 100 characters'), { error: 'advisoryIds must be a list of strings' })
        .max(1000, 'advisoryIds has at most 1000 entries')
        .default([]),
      teeVariant: z.string({ error: 'teeVariant must be a string' }).max(100).optional(),
      keyProviderInfo: z.string({ error: 'keyProviderInfo must be a string' }).max(65_536).optional(),
    },
    { error: 'the body must be a JSON object: dstack\'s BootInfo' },
  )
  .meta({ id: 'BootInfo', description: "dstack's BootInfo, as dstack-kms sends it to its auth webhook" });

export type BootInfoRequest = z.output<typeof bootInfoSchema>;
