/** Requests of the SSH keys API (`/user/ssh-keys…`). */
import { z } from 'zod';

export const createSshKeyRequestSchema = z.object({
  name: z.string({ error: 'name must be text' }).trim().min(1, 'name must not be empty').max(255, 'name is at most 255 characters'),
  /** one OpenSSH public key line; checked by the server (type, base64 blob whose embedded type matches, comment) */
  public_key: z
    .string({ error: 'public_key must be text: an OpenSSH public key such as the content of ~/.ssh/id_ed25519.pub' })
    .min(1, 'public_key must not be empty: send an OpenSSH public key such as the content of ~/.ssh/id_ed25519.pub'),
});

/** GitHub's rule for user names: 1–39 letters, digits and single hyphens, no hyphen first or last. */
const GITHUB_USERNAME = /^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$/;

export const importGithubProfileRequestSchema = z.object({
  github_username: z
    .string({ error: 'github_username must be text' })
    .regex(GITHUB_USERNAME, 'github_username is not a GitHub user name (1 to 39 letters, digits or single hyphens, not first or last)'),
});

export const syncGithubRequestSchema = z.object({});

export const sshKeyParams = z.object({
  key_id: z.string().min(1, 'the SSH key id must not be empty').max(100, 'the SSH key id is at most 100 characters'),
});
