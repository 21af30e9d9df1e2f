/**
 * The caller's SSH public keys (Phala Cloud's `/user/ssh-keys…`, the official SDK's `listSshKeys`,
 * `createSshKey`, `deleteSshKey`, `importGithubProfileSshKeys`, `syncGithubSshKeys` and the CLI's
 * `phala ssh-keys`). Keys belong to the API key's user; a CVM deployed afterwards gets them in its dstack
 * `user_config` (`ssh_authorized_keys`). CVMs already deployed keep the keys they were deployed with.
 */
import { defineEndpoint } from '../endpoint.ts';
import { ErrorCodes as E } from '../errors.ts';
import { createSshKeyRequestSchema, importGithubProfileRequestSchema, sshKeyParams, syncGithubRequestSchema } from '../requests/ssh-keys.ts';
import { importGithubProfileResultSchema, sshKeyListSchema, sshKeySchema, syncGithubResultSchema } from '../shapes/ssh-keys.ts';

const GITHUB = { 400: [E.GITHUB_UNREACHABLE, E.GITHUB_USER_NOT_FOUND] } as const;

export const listSshKeys = defineEndpoint({
  id: 'listSshKeys',
  method: 'GET',
  path: '/api/v1/user/ssh-keys',
  summary: "The caller's SSH public keys",
  tag: 'SSH Keys',
  auth: 'apiKey',
  role: 'viewer',
  success: { status: 200, description: "The API key's user's SSH keys, oldest first", json: sshKeyListSchema },
  phalaSchema: 'ListSshKeysResponseSchema',
});

export const createSshKey = defineEndpoint({
  id: 'createSshKey',
  method: 'POST',
  path: '/api/v1/user/ssh-keys',
  summary: 'Add an SSH public key',
  description:
    'An OpenSSH public key on one line: `<type> <base64> [comment]`, type one of ssh-ed25519, ssh-rsa (1024 bits or more), ecdsa-sha2-nistp256/384/521, sk-ssh-ed25519@openssh.com, sk-ecdsa-sha2-nistp256@openssh.com; the base64 part must decode to a key of that type. The fingerprint is OpenSSH\'s (`SHA256:` + unpadded base64). CVMs deployed afterwards get the key in their user_config (`ssh_authorized_keys`); running CVMs do not change.',
  tag: 'SSH Keys',
  auth: 'apiKey',
  role: 'viewer',
  body: { json: createSshKeyRequestSchema },
  success: { status: 201, description: 'The key as stored', json: sshKeySchema },
  errors: { 409: [E.SSH_KEY_EXISTS] },
  phalaSchema: 'SshKeySchema',
});

export const deleteSshKey = defineEndpoint({
  id: 'deleteSshKey',
  method: 'DELETE',
  path: '/api/v1/user/ssh-keys/{key_id}',
  summary: 'Delete an SSH public key',
  description: "Removes one of the caller's keys; a key that is not the caller's (or is gone already) is a 404 and nothing changes. Running CVMs keep the keys they were deployed with.",
  tag: 'SSH Keys',
  auth: 'apiKey',
  role: 'viewer',
  params: sshKeyParams,
  success: { status: 204, description: 'Deleted (no body)' },
  errors: { 404: [E.SSH_KEY_NOT_FOUND] },
});

export const importGithubProfileSshKeys = defineEndpoint({
  id: 'importGithubProfileSshKeys',
  method: 'POST',
  path: '/api/v1/user/ssh-keys/github-profile',
  summary: "Import the SSH keys of a GitHub profile",
  description:
    "Reads `<OPENCVM_GITHUB_URL>/<github_username>.keys` (at most 3 seconds) and adds each valid key the caller does not have yet (source `github`). GitHub not reachable (a closed network): 400 `ERR-10-003`, nothing added: add the key with POST /user/ssh-keys instead.",
  tag: 'SSH Keys',
  auth: 'apiKey',
  role: 'viewer',
  body: { json: importGithubProfileRequestSchema },
  success: { status: 200, description: 'How many keys were added and skipped', json: importGithubProfileResultSchema },
  errors: GITHUB,
  phalaSchema: 'ImportGithubProfileResponseSchema',
});

export const syncGithubSshKeys = defineEndpoint({
  id: 'syncGithubSshKeys',
  method: 'POST',
  path: '/api/v1/user/ssh-keys/github-sync',
  summary: 'Sync the keys imported from GitHub',
  description:
    "For each GitHub account the caller imported keys from: keys GitHub lists now and the caller lacks are added, keys it no longer lists are removed. Every account is read before anything changes: GitHub not reachable is 400 `ERR-10-003` with nothing changed.",
  tag: 'SSH Keys',
  auth: 'apiKey',
  role: 'viewer',
  body: { json: syncGithubRequestSchema, optional: true },
  success: { status: 200, description: 'What the sync changed', json: syncGithubResultSchema },
  errors: GITHUB,
  phalaSchema: 'SyncGithubSshKeysResponseSchema',
});
