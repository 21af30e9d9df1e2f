/**
 * Encrypted environment variables (dstack's `docs/encrypted-env-spec.md`).
 *
 * X25519 with a fresh ephemeral key; the raw 32-byte shared secret is the AES-256-GCM key (no KDF);
 * 12-byte IV, no AAD, 16-byte tag appended. Wire layout: `eph_pub(32) ‖ iv(12) ‖ ciphertext ‖ tag(16)`,
 * exchanged as lowercase hex without `0x`. Plaintext: UTF-8 `JSON.stringify({env:[{key,value},...]})`.
 * Byte-compatible with `encryptEnvVars` of `@phala/dstack-sdk` and with dstack-util `dh_decrypt`.
 */
import {
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  randomBytes,
  type KeyObject,
} from 'node:crypto';
import { fromHex, toHex } from './hex.ts';

/** One environment variable as carried in the encrypted payload. */
export interface EnvVar {
  key: string;
  value: string;
}

/** Raised when an encrypted env payload cannot be decrypted or does not have the expected shape. */
export class EnvDecryptError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EnvDecryptError';
  }
}

const X25519_KEY_LEN = 32;
const IV_LEN = 12;
const TAG_LEN = 16;
/** Smallest valid payload: eph_pub + iv + tag, with an empty plaintext. */
const MIN_PAYLOAD_LEN = X25519_KEY_LEN + IV_LEN + TAG_LEN;


function assertLength(bytes: Uint8Array, length: number, what: string): void {
  if (!(bytes instanceof Uint8Array) || bytes.length !== length) {
    throw new Error(`${what} must be ${length} bytes, got ${bytes instanceof Uint8Array ? bytes.length : typeof bytes}`);
  }
}

const b64url = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');

/**
 * Imports a raw 32-byte X25519 secret as a node:crypto private KeyObject. As a JWK, not as PKCS#8 DER: the
 * DER import goes through OpenSSL's generic decoder, some ten times slower, and a deploy derives several
 * of these. Node builds an OKP private key from `d` alone (`x` must be a string; it is not read).
 */
function x25519PrivateKeyObject(secret: Uint8Array): KeyObject {
  assertLength(secret, X25519_KEY_LEN, 'X25519 secret');
  return createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: b64url(secret), x: '' }, format: 'jwk' });
}

/** Imports a raw 32-byte X25519 public key as a node:crypto public KeyObject (as a JWK, for the same reason). */
function x25519PublicKeyObject(publicKey: Uint8Array): KeyObject {
  assertLength(publicKey, X25519_KEY_LEN, 'X25519 public key');
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: b64url(publicKey) }, format: 'jwk' });
}

/** X25519 public key (32 bytes) of a raw 32-byte secret (clamping is applied by X25519 itself). */
export function x25519PublicKey(secret: Uint8Array): Uint8Array {
  // exported as a JWK too: OpenSSL's SPKI encoder costs more than the X25519 itself
  const { x } = createPublicKey(x25519PrivateKeyObject(secret)).export({ format: 'jwk' });
  const publicKey = new Uint8Array(Buffer.from(x!, 'base64url'));
  assertLength(publicKey, X25519_KEY_LEN, 'X25519 public key');
  return publicKey;
}

/** A fresh random X25519 key pair (raw 32-byte secret and public key). */
export function generateX25519KeyPair(): { secret: Uint8Array; publicKey: Uint8Array } {
  const secret = new Uint8Array(randomBytes(X25519_KEY_LEN));
  return { secret, publicKey: x25519PublicKey(secret) };
}

/**
 * X25519(secret, publicKey). Returns null when the result would be all zeros (a low-order public
 * key); the guest rejects that case, and OpenSSL refuses to derive it.
 */
function x25519SharedSecret(secret: Uint8Array, publicKey: Uint8Array): Uint8Array | null {
  let shared: Buffer;
  try {
    shared = diffieHellman({ privateKey: x25519PrivateKeyObject(secret), publicKey: x25519PublicKeyObject(publicKey) });
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_OSSL_FAILED_DURING_DERIVATION') return null;
    throw err;
  }
  return shared.every((b) => b === 0) ? null : new Uint8Array(shared);
}

/**
 * Encrypts `envs` for the holder of `recipientPublicKeyHex` (32-byte X25519 key, optional `0x`).
 * Returns lowercase hex (no `0x`) of `eph_pub ‖ iv ‖ ciphertext ‖ tag`.
 * `opts.ephemeralSecret` / `opts.iv` make the output deterministic (tests only; never reuse them).
 */
export function encryptEnv(
  envs: EnvVar[],
  recipientPublicKeyHex: string,
  opts: { ephemeralSecret?: Uint8Array; iv?: Uint8Array } = {},
): string {
  const recipient = fromHex(recipientPublicKeyHex);
  assertLength(recipient, X25519_KEY_LEN, 'recipient X25519 public key');
  const ephemeralSecret = opts.ephemeralSecret ?? new Uint8Array(randomBytes(X25519_KEY_LEN));
  const iv = opts.iv ?? new Uint8Array(randomBytes(IV_LEN));
  assertLength(iv, IV_LEN, 'AES-GCM IV');

  const key = x25519SharedSecret(ephemeralSecret, recipient);
  if (key === null) throw new Error('encryptEnv: recipient public key yields an all-zero X25519 shared secret');

  const plaintext = Buffer.from(JSON.stringify({ env: envs }), 'utf8');
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_LEN });
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return toHex(Buffer.concat([x25519PublicKey(ephemeralSecret), iv, ciphertext, cipher.getAuthTag()]));
}

/** Parses the hex payload, turning hex errors into EnvDecryptError. */
function payloadBytes(encryptedHex: string): Uint8Array {
  try {
    return fromHex(encryptedHex);
  } catch (err) {
    throw new EnvDecryptError(`encrypted env is not valid hex: ${(err as Error).message}`);
  }
}

/**
 * Decrypts an encrypted env payload (hex, optional `0x`) with the recipient's 32-byte X25519 secret,
 * returning the raw plaintext bytes (as dstack-util `dh_decrypt`). Throws EnvDecryptError.
 */
export function decryptEnvBytes(encryptedHex: string, recipientSecret: Uint8Array): Uint8Array {
  const data = payloadBytes(encryptedHex);
  if (data.length < MIN_PAYLOAD_LEN) {
    throw new EnvDecryptError(
      `encrypted env is too short: ${data.length} bytes, need at least ${MIN_PAYLOAD_LEN} (ephemeral key 32 + IV 12 + tag 16)`,
    );
  }
  const ephemeralPublic = data.subarray(0, X25519_KEY_LEN);
  const iv = data.subarray(X25519_KEY_LEN, X25519_KEY_LEN + IV_LEN);
  const ciphertext = data.subarray(X25519_KEY_LEN + IV_LEN, data.length - TAG_LEN);
  const tag = data.subarray(data.length - TAG_LEN);

  const key = x25519SharedSecret(recipientSecret, ephemeralPublic);
  if (key === null) {
    throw new EnvDecryptError('encrypted env has an invalid ephemeral public key (all-zero X25519 shared secret)');
  }
  const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_LEN });
  decipher.setAuthTag(tag);
  try {
    return new Uint8Array(Buffer.concat([decipher.update(ciphertext), decipher.final()]));
  } catch {
    throw new EnvDecryptError(
      'encrypted env authentication failed: it was encrypted to a different key, or the data is corrupted',
    );
  }
}

/** Checks that a parsed value is `{"env":[{"key":string,"value":string},...]}` and returns the list. */
function envListOf(parsed: unknown): EnvVar[] {
  const env = (parsed as { env?: unknown } | null)?.env;
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed) || !Array.isArray(env)) {
    throw new EnvDecryptError('decrypted env has the wrong shape: expected {"env":[{"key":...,"value":...}]}');
  }
  return env.map((item: unknown, i: number) => {
    const { key, value } = (item ?? {}) as { key?: unknown; value?: unknown };
    if (typeof item !== 'object' || item === null || typeof key !== 'string' || typeof value !== 'string') {
      throw new EnvDecryptError(`decrypted env item ${i} must be an object with string "key" and "value"`);
    }
    return { key, value };
  });
}

/** Decrypts and parses an encrypted env payload into its `{key,value}` list. Throws EnvDecryptError. */
export function decryptEnv(encryptedHex: string, recipientSecret: Uint8Array): EnvVar[] {
  const plaintext = decryptEnvBytes(encryptedHex, recipientSecret);
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(plaintext));
  } catch (err) {
    throw new EnvDecryptError(`decrypted env is not valid UTF-8 JSON: ${(err as Error).message}`);
  }
  return envListOf(parsed);
}

/** dstack `parse_env` limits (dstack-util `parse_env_file.rs`). */
export const ENV_LIMITS = {
  maxItems: 1024,
  maxKeyBytes: 255,
  maxValueBytes: 128 * 1024,
  maxTotalBytes: 1024 * 1024,
} as const;

const ENV_KEY_PATTERN = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

const utf8Length = (s: string): number => Buffer.byteLength(s, 'utf8');

/**
 * Splits `envs` by the compose `allowed_envs` list, as the guest does: keys not listed are dropped
 * (with an empty list, everything is dropped). `dropped` holds the dropped keys in input order.
 */
export function filterAllowedEnvs(envs: EnvVar[], allowed: string[]): { kept: EnvVar[]; dropped: string[] } {
  const allowedSet = new Set(allowed);
  const kept: EnvVar[] = [];
  const dropped: string[] = [];
  for (const env of envs) {
    if (allowedSet.has(env.key)) kept.push(env);
    else dropped.push(env.key);
  }
  return { kept, dropped };
}

/**
 * Applies the dstack `parse_env` validation rules to `envs`; returns an error message, or null if
 * the guest would accept them. Lengths are UTF-8 byte lengths. In the guest, the item-count limit
 * applies to the whole payload and the per-key rules to the allowed keys only, so call this on
 * the full list for the count and on `filterAllowedEnvs(...).kept` for an exact per-key match.
 */
export function validateEnvVars(envs: EnvVar[]): string | null {
  if (envs.length > ENV_LIMITS.maxItems) {
    return `too many environment variables: ${envs.length} (at most ${ENV_LIMITS.maxItems})`;
  }
  let total = 0;
  for (const { key, value } of envs) {
    const keyBytes = utf8Length(key);
    const valueBytes = utf8Length(value);
    if (keyBytes > ENV_LIMITS.maxKeyBytes) {
      return `environment variable key is too long: ${keyBytes} bytes (at most ${ENV_LIMITS.maxKeyBytes})`;
    }
    if (valueBytes > ENV_LIMITS.maxValueBytes) {
      return `value of environment variable ${key} is too long: ${valueBytes} bytes (at most ${ENV_LIMITS.maxValueBytes})`;
    }
    if (!ENV_KEY_PATTERN.test(key)) {
      return `invalid environment variable key ${JSON.stringify(key)}: must match ^[a-zA-Z_][a-zA-Z0-9_]*$`;
    }
    total += keyBytes + valueBytes;
    if (total > ENV_LIMITS.maxTotalBytes) {
      return `environment variables are too large: keys plus values exceed ${ENV_LIMITS.maxTotalBytes} bytes`;
    }
  }
  return null;
}
