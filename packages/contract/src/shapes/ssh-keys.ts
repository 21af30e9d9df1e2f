/** Answers of the SSH keys API (`/user/ssh-keys…`), in Phala Cloud's shapes. */
import { z } from 'zod';
import { nullableTimestamp, timestamp } from './common.ts';

const count = z.number().int().nonnegative();

export const sshKeySchema = z
  .strictObject({
    /** `sshkey_` + 20 hex digits */
    id: z.string(),
    user_id: z.string(),
    name: z.string(),
    /** the key as stored: type, base64 and comment */
    public_key: z.string(),
    /** `SHA256:` + unpadded base64, as `ssh-keygen -l` prints it */
    fingerprint: z.string(),
    /** e.g. `ssh-ed25519`, `ssh-rsa`, `ecdsa-sha2-nistp256` */
    key_type: z.string(),
    /** `manual` (added with POST /user/ssh-keys) or `github` (imported from a GitHub profile) */
    source: z.enum(['manual', 'github']),
    /** for keys imported from GitHub: `{github_username}` */
    key_metadata: z.record(z.string(), z.unknown()).nullable(),
    /** for keys imported from GitHub: when GitHub last listed the key */
    last_synced_at: nullableTimestamp,
    created_at: timestamp,
    updated_at: timestamp,
  })
  .meta({ id: 'SshKey' });

export const sshKeyListSchema = z.array(sshKeySchema);

export const importGithubProfileResultSchema = z.strictObject({
  github_username: z.string(),
  keys_added: count,
  /** keys the caller has already (same fingerprint) */
  keys_skipped: count,
  /** one line per key GitHub listed that is not a valid OpenSSH public key */
  errors: z.array(z.string()),
});

export const syncGithubResultSchema = z.strictObject({
  /** the GitHub accounts read (each one the caller imported keys from) */
  synced_count: count,
  keys_added: count,
  /** keys GitHub still lists (their last_synced_at renewed) */
  keys_updated: count,
  /** keys GitHub no longer lists, removed */
  keys_removed: count,
  errors: z.array(z.string()),
});
