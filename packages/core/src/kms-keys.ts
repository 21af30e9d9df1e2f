/**
 * dstack KMS key derivation and the env public key signatures (`GetAppEnvEncryptPubKey`), reproducing
 * `ra-tls/src/kdf.rs` and `kms/src/crypto.rs` byte for byte.
 *
 * - `derive_key`: HKDF-SHA256, salt "RATLS", info = concatenated context parts.
 * - `derive_p256`: the 32-byte HKDF output of the root CA scalar, read as a big-endian P-256 scalar.
 * - `derive_dh_secret`: SHA-256 of the derived key's 138-byte PKCS#8 DER (an X25519 secret).
 * - `sign_message`: secp256k1 ECDSA (RFC6979, low-S) over keccak256(prefix ‖ ":" ‖ app_id ‖ [ts_be8] ‖ msg),
 *   encoded `r ‖ s ‖ recid`.
 */
import { createECDH, createHash, hkdfSync } from 'node:crypto';
import { p256 } from '@noble/curves/nist.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { x25519PublicKey } from './env-crypto.ts';
import { fromHex, toHex } from './hex.ts';

const SCALAR_LEN = 32;
const APP_ID_LEN = 20;
const HKDF_SALT = Buffer.from('RATLS', 'ascii');

/** Context-part values: raw bytes, or strings taken as UTF-8. */
export type KdfContext = (Uint8Array | string)[];

function concatBytes(parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

function contextBytes(ctx: KdfContext): Uint8Array {
  return concatBytes(ctx.map((part) => (typeof part === 'string' ? Buffer.from(part, 'utf8') : part)));
}

function sha256(data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(data).digest());
}

/** Keccak-256 (Ethereum's, not SHA3-256). */
export function keccak256(data: Uint8Array): Uint8Array {
  return keccak_256(data);
}

/** dstack `derive_key`: HKDF-SHA256(ikm, salt="RATLS", info=ctx parts concatenated, length). */
export function deriveKey(ikm: Uint8Array, ctx: KdfContext, length: number): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', ikm, HKDF_SALT, contextBytes(ctx), length));
}

function bytesToBigInt(bytes: Uint8Array): bigint {
  return bytes.length === 0 ? 0n : BigInt(`0x${toHex(bytes)}`);
}

/**
 * Interprets 32 bytes as a private scalar the way RustCrypto `SecretKey::from_slice` /
 * `SigningKey::from_bytes` do: big-endian, and it must lie in [1, n-1]. There is no reduction
 * mod n; out-of-range input is an error (for HKDF output this has probability ~2^-32).
 */
function assertValidScalar(bytes: Uint8Array, n: bigint, what: string): void {
  if (!(bytes instanceof Uint8Array) || bytes.length !== SCALAR_LEN) {
    throw new Error(`${what} must be a 32-byte scalar`);
  }
  const value = bytesToBigInt(bytes);
  if (value === 0n || value >= n) throw new Error(`${what} is not a valid scalar (zero or not below the curve order)`);
}

const P256_N = p256.Point.CURVE().n;
const K256_N = secp256k1.Point.CURVE().n;

/**
 * dstack `derive_p256_key_pair_from_bytes`: HKDF(root scalar, ctx, 32) used directly as the
 * big-endian P-256 private scalar (`p256::SecretKey::from_slice`, no reduction; throws if the
 * output is 0 or ≥ n, exactly where upstream fails).
 */
export function deriveP256Scalar(rootScalar: Uint8Array, ctx: KdfContext): Uint8Array {
  assertValidScalar(rootScalar, P256_N, 'root P-256 key');
  const derived = deriveKey(rootScalar, ctx, SCALAR_LEN);
  assertValidScalar(derived, P256_N, 'derived P-256 key');
  return derived;
}

/** PKCS#8 header up to and including the OCTET STRING tag of `d` (the 138-byte, no-[0]-params form). */
const P256_PKCS8_HEAD = Buffer.from(
  '308187020100301306072a8648ce3d020106082a8648ce3d030107046d306b0201010420',
  'hex',
);
/** `[1] { BIT STRING (0 unused bits) }` header before the 65-byte uncompressed public key. */
const P256_PKCS8_PUBKEY_HEAD = Buffer.from('a144034200', 'hex');

/**
 * The 138-byte PKCS#8 DER of a P-256 key, as RustCrypto `to_pkcs8_der`, OpenSSL and Python
 * `cryptography` write it: PrivateKeyInfo{v0, {id-ecPublicKey, prime256v1},
 * OCTET STRING(ECPrivateKey{v1, d, [1] uncompressed pubkey})}, without `[0]` parameters.
 */
export function p256Pkcs8Der(scalar: Uint8Array): Uint8Array {
  assertValidScalar(scalar, P256_N, 'P-256 private key');
  // OpenSSL's point multiplication (the same uncompressed point as noble's p256.getPublicKey, ten times faster)
  const ecdh = createECDH('prime256v1');
  ecdh.setPrivateKey(scalar);
  const publicKey = new Uint8Array(ecdh.getPublicKey(null, 'uncompressed'));
  return concatBytes([P256_PKCS8_HEAD, scalar, P256_PKCS8_PUBKEY_HEAD, publicKey]);
}

/** A DER TLV element read from a buffer. */
interface DerElement {
  tag: number;
  value: Uint8Array;
  /** Offset just past this element. */
  end: number;
}

/** Reads one DER TLV at `offset` (definite lengths only). */
function readDer(buf: Uint8Array, offset: number): DerElement {
  if (offset + 2 > buf.length) throw new Error('PKCS#8: truncated DER');
  const tag = buf[offset];
  let length = buf[offset + 1];
  let pos = offset + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > 3 || pos + count > buf.length) throw new Error('PKCS#8: unsupported DER length');
    length = 0;
    for (let i = 0; i < count; i++) length = (length << 8) | buf[pos + i];
    pos += count;
  }
  if (pos + length > buf.length) throw new Error('PKCS#8: truncated DER');
  return { tag, value: buf.subarray(pos, pos + length), end: pos + length };
}

/** Reads the consecutive DER elements that make up `buf`. */
function readDerSequence(buf: Uint8Array): DerElement[] {
  const items: DerElement[] = [];
  for (let offset = 0; offset < buf.length; ) {
    const item = readDer(buf, offset);
    items.push(item);
    offset = item.end;
  }
  return items;
}

const DER_SEQUENCE = 0x30;
const DER_OCTET_STRING = 0x04;
/** AlgorithmIdentifier {id-ecPublicKey, prime256v1} as DER content. */
const P256_ALGORITHM = Buffer.from('06072a8648ce3d020106082a8648ce3d030107', 'hex');

/**
 * Extracts the 32-byte private scalar from a P-256 PKCS#8 DER (the format rcgen / the KMS store
 * the root CA key in). Accepts ECPrivateKey with or without the optional `[0]`/`[1]` fields.
 */
export function p256ScalarFromPkcs8(der: Uint8Array): Uint8Array {
  const outer = readDer(der, 0);
  if (outer.tag !== DER_SEQUENCE || outer.end !== der.length) throw new Error('PKCS#8: not a single DER SEQUENCE');
  const [version, algorithm, privateKey] = readDerSequence(outer.value);
  if (version?.tag !== 0x02 || toHex(version.value) !== '00') throw new Error('PKCS#8: unsupported version');
  if (algorithm?.tag !== DER_SEQUENCE || !Buffer.from(algorithm.value).equals(P256_ALGORITHM)) {
    throw new Error('PKCS#8: not an id-ecPublicKey / prime256v1 key');
  }
  if (privateKey?.tag !== DER_OCTET_STRING) throw new Error('PKCS#8: missing privateKey OCTET STRING');

  const ecPrivateKey = readDer(privateKey.value, 0);
  if (ecPrivateKey.tag !== DER_SEQUENCE) throw new Error('PKCS#8: ECPrivateKey is not a SEQUENCE');
  const [ecVersion, d] = readDerSequence(ecPrivateKey.value);
  if (ecVersion?.tag !== 0x02 || toHex(ecVersion.value) !== '01') throw new Error('PKCS#8: unsupported ECPrivateKey version');
  if (d?.tag !== DER_OCTET_STRING || d.value.length === 0 || d.value.length > SCALAR_LEN) {
    throw new Error('PKCS#8: bad private key octets');
  }
  const scalar = new Uint8Array(SCALAR_LEN);
  scalar.set(d.value, SCALAR_LEN - d.value.length);
  assertValidScalar(scalar, P256_N, 'PKCS#8 private key');
  return scalar;
}

/** dstack `derive_dh_secret`: SHA-256 of the PKCS#8 DER of `derive_p256(root, ctx)` (an X25519 secret). */
export function deriveDhSecret(rootScalar: Uint8Array, ctx: KdfContext): Uint8Array {
  return sha256(p256Pkcs8Der(deriveP256Scalar(rootScalar, ctx)));
}

/** Parses a 20-byte app_id given as hex (optional `0x`). */
function appIdBytes(appIdHex: string): Uint8Array {
  const appId = fromHex(appIdHex);
  if (appId.length !== APP_ID_LEN) throw new Error(`app_id must be ${APP_ID_LEN} bytes, got ${appId.length}`);
  return appId;
}

/** The per-app env-encryption X25519 secret: `derive_dh_secret(root_ca, [app_id, "env-encrypt-key"])`. */
export function deriveAppEnvSecret(rootCaScalar: Uint8Array, appIdHex: string): Uint8Array {
  return deriveDhSecret(rootCaScalar, [appIdBytes(appIdHex), 'env-encrypt-key']);
}

/** The per-app env-encryption X25519 key pair: `deriveAppEnvSecret` and its public key. */
export function deriveAppEnvKeyPair(
  rootCaScalar: Uint8Array,
  appIdHex: string,
): { secret: Uint8Array; publicKey: Uint8Array } {
  const secret = deriveAppEnvSecret(rootCaScalar, appIdHex);
  return { secret, publicKey: x25519PublicKey(secret) };
}

/**
 * The per-instance disk key: `derive_dh_secret(root_ca, [app_id, instance_id, "app-disk-crypt-key"])`.
 * The guest uses its lowercase hex as the LUKS passphrase. `instanceIdHex` may be empty.
 */
export function deriveAppDiskKey(rootCaScalar: Uint8Array, appIdHex: string, instanceIdHex: string): Uint8Array {
  return deriveDhSecret(rootCaScalar, [appIdBytes(appIdHex), fromHex(instanceIdHex), 'app-disk-crypt-key']);
}

/** Compressed SEC1 (33-byte) secp256k1 public key of `priv`. */
export function k256CompressedPublicKey(priv: Uint8Array): Uint8Array {
  assertValidScalar(priv, K256_N, 'secp256k1 private key');
  return secp256k1.getPublicKey(priv, true);
}

/** 8-byte big-endian encoding of a u64 timestamp. */
function u64be(value: bigint | number): Uint8Array {
  const big = BigInt(value);
  if (big < 0n || big >= 1n << 64n) throw new Error('timestamp must fit in an unsigned 64-bit integer');
  const out = Buffer.alloc(8);
  out.writeBigUInt64BE(big);
  return new Uint8Array(out);
}

/** keccak256(prefix ‖ ":" ‖ app_id ‖ [u64_be(timestamp)] ‖ msg): the digest dstack's KMS signs. */
export function signedMessageDigest(
  prefix: string,
  appId: Uint8Array,
  msg: Uint8Array,
  timestamp?: bigint | number,
): Uint8Array {
  const parts = [Buffer.from(`${prefix}:`, 'utf8'), appId];
  if (timestamp !== undefined) parts.push(u64be(timestamp));
  parts.push(msg);
  return keccak256(concatBytes(parts));
}

/**
 * dstack KMS `sign_message` / `sign_message_with_timestamp` (when `timestamp` is given):
 * secp256k1 ECDSA over `signedMessageDigest(...)`, RFC6979 nonce, low-S, 65 bytes `r ‖ s ‖ recid`
 * (recid 0/1, no +27).
 */
export function signMessage(
  privKey: Uint8Array,
  prefix: string,
  appId: Uint8Array,
  msg: Uint8Array,
  timestamp?: bigint | number,
): Uint8Array {
  assertValidScalar(privKey, K256_N, 'secp256k1 private key');
  const digest = signedMessageDigest(prefix, appId, msg, timestamp);
  const sig = secp256k1.sign(digest, privKey, { prehash: false, lowS: true, extraEntropy: false });
  return concatBytes([sig.toBytes('compact'), Uint8Array.of(sig.recovery)]);
}

/**
 * The per-app k256 key `derive_key(root_k256, [app_id, "app-key"], 32)` and its KMS signature
 * `sign_message(root_k256, "dstack-kms-issued", app_id, compressed_pubkey_33)`.
 */
export function deriveAppK256Key(rootK256: Uint8Array, appIdHex: string): { key: Uint8Array; signature: Uint8Array } {
  assertValidScalar(rootK256, K256_N, 'root secp256k1 key');
  const appId = appIdBytes(appIdHex);
  const key = deriveKey(rootK256, [appId, 'app-key'], SCALAR_LEN);
  assertValidScalar(key, K256_N, 'derived secp256k1 key');
  const signature = signMessage(rootK256, 'dstack-kms-issued', appId, k256CompressedPublicKey(key));
  return { key, signature };
}

const ENV_PUBKEY_PREFIX = 'dstack-env-encrypt-pubkey';

/** Legacy `PublicKeyResponse.signature`: over `"dstack-env-encrypt-pubkey:" ‖ app_id ‖ public_key`. */
export function signEnvPubkey(rootK256: Uint8Array, appIdHex: string, publicKey: Uint8Array): Uint8Array {
  return signMessage(rootK256, ENV_PUBKEY_PREFIX, appIdBytes(appIdHex), publicKey);
}

/** `PublicKeyResponse.signature_v1`: over `"dstack-env-encrypt-pubkey:" ‖ app_id ‖ u64_be(timestamp) ‖ public_key`. */
export function signEnvPubkeyV1(
  rootK256: Uint8Array,
  appIdHex: string,
  publicKey: Uint8Array,
  timestamp: bigint | number,
): Uint8Array {
  return signMessage(rootK256, ENV_PUBKEY_PREFIX, appIdBytes(appIdHex), publicKey, timestamp);
}

/**
 * Recovers the signer of a 65-byte `r ‖ s ‖ v` signature over a 32-byte digest, as compressed
 * SEC1 `0x…` hex. `v` may be 0/1 or 27/28 (Go accepts both). Throws on malformed input.
 */
export function recoverSigner(signature65: Uint8Array, digest32: Uint8Array): string {
  if (signature65.length !== 65) throw new Error(`signature must be 65 bytes, got ${signature65.length}`);
  if (digest32.length !== 32) throw new Error(`digest must be 32 bytes, got ${digest32.length}`);
  const v = signature65[64];
  const recovery = v >= 27 ? v - 27 : v;
  if (recovery !== 0 && recovery !== 1) throw new Error(`unsupported recovery id ${v}`);
  const point = secp256k1.Signature.fromBytes(signature65.subarray(0, 64), 'compact')
    .addRecoveryBit(recovery)
    .recoverPublicKey(digest32);
  return `0x${toHex(point.toBytes(true))}`;
}

/**
 * Recovers the KMS k256 signer of an env public key signature: the legacy message when `timestamp`
 * is omitted, the v1 message otherwise. Compare the result with the trusted KMS k256 public key.
 */
export function recoverEnvPubkeySigner(
  publicKey: Uint8Array,
  signature: Uint8Array,
  appIdHex: string,
  timestamp?: bigint | number,
): string {
  return recoverSigner(signature, signedMessageDigest(ENV_PUBKEY_PREFIX, appIdBytes(appIdHex), publicKey, timestamp));
}

/** Fresh random KMS root keys: a P-256 CA scalar and a secp256k1 scalar (both 32 bytes, in range). */
export function generateRootKeys(): { caScalar: Uint8Array; k256: Uint8Array } {
  return { caScalar: p256.utils.randomSecretKey(), k256: secp256k1.utils.randomSecretKey() };
}
