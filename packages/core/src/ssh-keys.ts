/**
 * OpenSSH public keys: what `POST /user/ssh-keys` accepts, the fingerprint OpenSSH shows for it, and how a
 * user's keys go into a CVM's dstack `user_config` (`ssh_authorized_keys`, which Phala's
 * `GET /cvms/{id}/user_config` answers and a dstack guest reads from `/dstack/user_config`).
 */
import { createHash } from 'node:crypto';

/** The key types accepted, with the structure of each one's blob after its type string (RFC 4253, 5656, 8709; OpenSSH's PROTOCOL.u2f). */
const KEY_TYPES = {
  'ssh-ed25519': ['ed25519'],
  'ssh-rsa': ['rsa'],
  'ecdsa-sha2-nistp256': ['ecdsa', 'nistp256', 65],
  'ecdsa-sha2-nistp384': ['ecdsa', 'nistp384', 97],
  'ecdsa-sha2-nistp521': ['ecdsa', 'nistp521', 133],
  'sk-ssh-ed25519@openssh.com': ['sk-ed25519'],
  'sk-ecdsa-sha2-nistp256@openssh.com': ['sk-ecdsa', 'nistp256', 65],
} as const;

export type SshKeyType = keyof typeof KEY_TYPES;
export const SSH_KEY_TYPES = Object.keys(KEY_TYPES) as SshKeyType[];

/** What a valid key looks like, for messages. */
export const SSH_KEY_FORM =
  `an OpenSSH public key on one line, "<type> <base64> [comment]", as in ~/.ssh/id_ed25519.pub, with type one of ${SSH_KEY_TYPES.join(', ')}`;

/** Longest public key line accepted (an RSA key of 16384 bits is some 2,800 characters). */
export const MAX_SSH_KEY_LENGTH = 8192;

export interface SshPublicKey {
  keyType: SshKeyType;
  /** the key's blob, base64 (as in the line) */
  blob: string;
  comment: string;
  /** `SHA256:` + the unpadded base64 of SHA-256 of the blob: what `ssh-keygen -l` prints */
  fingerprint: string;
  /** the key as stored and handed to guests: type, base64 and comment, single spaces */
  line: string;
}

/** `SHA256:<unpadded base64 of SHA-256(blob)>`, OpenSSH's fingerprint of a key blob. */
export function sshFingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** Reads the SSH wire encoding of a key blob: uint32 length-prefixed strings and mpints. */
class BlobReader {
  private at = 0;
  constructor(private readonly b: Buffer) {}
  string(): Buffer | null {
    if (this.at + 4 > this.b.length) return null;
    const n = this.b.readUInt32BE(this.at);
    if (this.at + 4 + n > this.b.length) return null;
    const s = this.b.subarray(this.at + 4, this.at + 4 + n);
    this.at += 4 + n;
    return s;
  }
  done(): boolean {
    return this.at === this.b.length;
  }
}

/** Why the blob is not a key of `type`, or null if it is one. */
function blobProblem(type: SshKeyType, blob: Buffer): string | null {
  const r = new BlobReader(blob);
  const embedded = r.string();
  if (!embedded) return 'its base64 part does not decode to an SSH key';
  if (embedded.toString('latin1') !== type) {
    return `its base64 part is a "${embedded.toString('latin1').slice(0, 64)}" key, not the "${type}" its type says`;
  }
  const spec = KEY_TYPES[type];
  switch (spec[0]) {
    case 'ed25519':
    case 'sk-ed25519': {
      const pk = r.string();
      if (!pk || pk.length !== 32) return 'its Ed25519 public key is not 32 bytes';
      if (spec[0] === 'sk-ed25519' && !r.string()) return 'it has no security key application';
      break;
    }
    case 'rsa': {
      const e = r.string();
      const n = r.string();
      if (!e || !n || e.length === 0 || n.length === 0) return 'its RSA exponent or modulus is missing';
      // the modulus without its sign byte; OpenSSH refuses RSA keys under 1024 bits
      let bytes = n;
      while (bytes.length && bytes[0] === 0) bytes = bytes.subarray(1);
      const bits = bytes.length ? (bytes.length - 1) * 8 + (32 - Math.clz32(bytes[0])) : 0;
      if (bits < 1024) return `its RSA modulus is ${bits} bits; at least 1024 are needed (2048 or more is advised)`;
      break;
    }
    case 'ecdsa':
    case 'sk-ecdsa': {
      const curve = r.string();
      if (!curve || curve.toString('latin1') !== spec[1]) return `its curve is not ${spec[1]}`;
      const q = r.string();
      if (!q || q.length !== spec[2] || q[0] !== 0x04) return `its ${spec[1]} point is not an uncompressed point of ${spec[2]} bytes`;
      if (spec[0] === 'sk-ecdsa' && !r.string()) return 'it has no security key application';
      break;
    }
  }
  if (!r.done()) return 'its base64 part has bytes after the key';
  return null;
}

/**
 * The OpenSSH public key in `text` (one line: type, base64 blob, optional comment), or the reason it is not one.
 * The blob must decode to a key whose embedded type is the declared one, with that type's structure.
 */
export function parseSshPublicKey(text: string): SshPublicKey | { problem: string } {
  const t = text.trim();
  if (!t) return { problem: 'it is empty' };
  if (t.length > MAX_SSH_KEY_LENGTH) return { problem: `it is ${t.length} characters long; a public key is at most ${MAX_SSH_KEY_LENGTH}` };
  if (/[\r\n]/.test(t)) return { problem: 'it is more than one line; add one key at a time' };
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x08\x0b-\x1f\x7f]/.test(t)) return { problem: 'it contains control characters' };
  const [type, b64, ...rest] = t.split(/[ \t]+/);
  if (type.includes('BEGIN')) return { problem: 'it is a PEM block, not an OpenSSH public key (convert it with ssh-keygen -i -f <file>)' };
  if (!(type in KEY_TYPES)) {
    if (/PRIVATE/i.test(t)) return { problem: 'it looks like a private key: never send a private key, send the .pub file' };
    return { problem: `"${type.slice(0, 40)}" is not a key type accepted here` };
  }
  if (!b64) return { problem: 'its base64 part is missing' };
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || b64.length % 4 !== 0) return { problem: 'its second part is not base64' };
  const blob = Buffer.from(b64, 'base64');
  if (blob.toString('base64') !== b64) return { problem: 'its second part is not canonical base64' };
  const keyType = type as SshKeyType;
  const problem = blobProblem(keyType, blob);
  if (problem) return { problem };
  const comment = rest.join(' ');
  return { keyType, blob: b64, comment, fingerprint: sshFingerprint(blob), line: comment ? `${keyType} ${b64} ${comment}` : `${keyType} ${b64}` };
}

/**
 * A dstack `user_config` with `keys` added to its `ssh_authorized_keys` (keys already in it are kept once, in
 * order: the config's own first). The user config is JSON, as Phala's `GET /cvms/{id}/user_config` reads it; one
 * that is not a JSON object is the caller's own format and is left as it is. No keys: the config unchanged.
 */
export function withAuthorizedKeys(userConfig: string | null, keys: readonly string[]): string | null {
  if (!keys.length) return userConfig;
  let config: Record<string, unknown> = {};
  if (userConfig && userConfig.trim()) {
    try {
      const v = JSON.parse(userConfig) as unknown;
      if (!v || typeof v !== 'object' || Array.isArray(v)) return userConfig;
      config = v as Record<string, unknown>;
    } catch {
      return userConfig;
    }
  }
  const own = Array.isArray(config.ssh_authorized_keys) ? config.ssh_authorized_keys.filter((k): k is string => typeof k === 'string') : [];
  const all = [...new Set([...own, ...keys])];
  return JSON.stringify({ ...config, ssh_authorized_keys: all });
}
