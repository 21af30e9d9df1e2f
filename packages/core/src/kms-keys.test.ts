import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac, createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { p256 } from '@noble/curves/nist.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { verifyEnvEncryptPublicKey } from '@phala/dstack-sdk';
import { x25519PublicKey } from './env-crypto.ts';
import { fromHex, toHex } from './hex.ts';
import {
  deriveAppDiskKey,
  deriveAppEnvKeyPair,
  deriveAppK256Key,
  deriveDhSecret,
  deriveKey,
  deriveP256Scalar,
  generateRootKeys,
  k256CompressedPublicKey,
  keccak256,
  p256Pkcs8Der,
  p256ScalarFromPkcs8,
  recoverEnvPubkeySigner,
  recoverSigner,
  signEnvPubkey,
  signEnvPubkeyV1,
  signMessage,
  signedMessageDigest,
} from './kms-keys.ts';

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const cat = (...parts: Uint8Array[]): Uint8Array => Uint8Array.from(parts.flatMap((p) => [...p]));
const b64url = (b: Uint8Array): string => Buffer.from(b).toString('base64url');

// ---------------------------------------------------------------------------------------------
// Independent reference (RFC 5869 by hand with HMAC; node:crypto/OpenSSL for the PKCS#8 DER).
// ---------------------------------------------------------------------------------------------

function referenceHkdf(ikm: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  const prk = createHmac('sha256', 'RATLS').update(ikm).digest();
  const out: number[] = [];
  let block: Buffer = Buffer.alloc(0);
  for (let i = 1; out.length < length; i++) {
    block = createHmac('sha256', prk).update(Buffer.concat([block, info, Buffer.of(i)])).digest();
    out.push(...block);
  }
  return Uint8Array.from(out.slice(0, length));
}

/** PKCS#8 DER of a P-256 scalar as OpenSSL writes it (via JWK import), independent of p256Pkcs8Der. */
function opensslPkcs8(scalar: Uint8Array): Uint8Array {
  const pub = p256.getPublicKey(scalar, false);
  const jwk = { kty: 'EC', crv: 'P-256', d: b64url(scalar), x: b64url(pub.subarray(1, 33)), y: b64url(pub.subarray(33)) };
  return new Uint8Array(createPrivateKey({ key: jwk, format: 'jwk' }).export({ format: 'der', type: 'pkcs8' }));
}

/** dstack derive_dh_secret computed with the reference pieces above. */
function referenceDhSecret(root: Uint8Array, info: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(opensslPkcs8(referenceHkdf(root, info, 32))).digest());
}

// ---------------------------------------------------------------------------------------------
// Key derivation vectors (dstack `ra-tls/src/kdf.rs`, `kms/src/crypto.rs`)
// ---------------------------------------------------------------------------------------------

const ROOT_DER = fromHex(
  '308187020100301306072a8648ce3d020106082a8648ce3d030107046d306b0201010420f57527cea4ab7ffb49af99b158cdc0e3ec06398f528349ea236b7d2afe19cec1a1440342000491f50522407ce29dce3ed7d31a15d80c1c42f13a23552d2b33a0ce09ee11e47bce95936f3e7f80d195f879e28e1b144ef37ac9ab8e36a690cbf930b775897b27',
);
const ROOT = p256ScalarFromPkcs8(ROOT_DER);

test('root key PKCS#8: scalar extraction and exact 138-byte re-encoding', () => {
  assert.equal(toHex(ROOT), 'f57527cea4ab7ffb49af99b158cdc0e3ec06398f528349ea236b7d2afe19cec1');
  assert.equal(ROOT_DER.length, 138);
  assert.deepEqual(p256Pkcs8Der(ROOT), ROOT_DER);
  assert.deepEqual(opensslPkcs8(ROOT), ROOT_DER);
});

test('dstack upstream test_derive_dh_secret_stable_output', () => {
  const secret = deriveDhSecret(ROOT, ['context one', 'context two']);
  assert.equal(toHex(secret), '663afd58820be8ad645f9c035e93199d114ab16f738db62393bc1d7d623e8813');
  assert.deepEqual(referenceDhSecret(ROOT, utf8('context onecontext two')), secret);
});

test('env keys under the test root key', () => {
  const zero = deriveAppEnvKeyPair(ROOT, '00'.repeat(20));
  assert.equal(toHex(zero.secret), 'bd41ba1b4afc83aa6ffaa33db4c24d849e2aff9cfb6d0dc8b2107aea32a2852c');
  assert.equal(toHex(zero.publicKey), 'fb40ea5800075665b1747cbe1dd54e1e9514c1fb5cbad7819c9158fb15e0de2c');

  const app = deriveAppEnvKeyPair(ROOT, '9012345678901234567890123456789012345678');
  assert.equal(toHex(app.secret), '3a4625cd4b5454719e405830e5fa9cfe1fc5d156a277ad5c13217e94f906b146');
  assert.equal(toHex(app.publicKey), '474024262f878e1a61122f90497180f28badf7d37a5af45a578849eee211403b');
  assert.deepEqual(app.publicKey, x25519PublicKey(app.secret));
  // 0x-prefixed app ids are the same app.
  assert.deepEqual(deriveAppEnvKeyPair(ROOT, '0x9012345678901234567890123456789012345678'), app);
  assert.throws(() => deriveAppEnvKeyPair(ROOT, '1234'), /app_id must be 20 bytes/);
});

// ---------------------------------------------------------------------------------------------
// Primitives
// ---------------------------------------------------------------------------------------------

test('deriveKey is HKDF-SHA256 with salt "RATLS" and concatenated info', () => {
  const ikm = utf8('input key material');
  for (const length of [16, 32, 33, 64, 256]) {
    assert.deepEqual(deriveKey(ikm, ['context one'], length), referenceHkdf(ikm, utf8('context one'), length));
  }
  // Context parts are concatenated (ring multi-slice info): the split point does not matter.
  const appId = fromHex('ab'.repeat(20));
  assert.deepEqual(deriveKey(ikm, [appId, 'app-key'], 32), deriveKey(ikm, [cat(appId, utf8('app-key'))], 32));
  assert.deepEqual(deriveKey(ikm, ['ab', 'c'], 32), deriveKey(ikm, ['a', 'bc'], 32));
  assert.notDeepEqual(deriveKey(ikm, ['context one'], 32), deriveKey(ikm, ['context two'], 32));
});

test('deriveP256Scalar is the raw 32-byte HKDF output read as a big-endian scalar', () => {
  const ctx = ['context one', 'context two'];
  const scalar = deriveP256Scalar(ROOT, ctx);
  assert.deepEqual(scalar, deriveKey(ROOT, ctx, 32));
  assert.ok(p256.utils.isValidSecretKey(scalar));
  assert.equal(p256Pkcs8Der(scalar).length, 138);
  assert.deepEqual(p256Pkcs8Der(scalar), opensslPkcs8(scalar));
});

test('p256ScalarFromPkcs8 reads OpenSSL-generated keys and rejects other keys', () => {
  for (let i = 0; i < 5; i++) {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const der = new Uint8Array(privateKey.export({ format: 'der', type: 'pkcs8' }));
    const d = Buffer.from(privateKey.export({ format: 'jwk' }).d as string, 'base64url');
    const scalar = p256ScalarFromPkcs8(der);
    assert.equal(toHex(scalar), d.toString('hex').padStart(64, '0'));
    assert.deepEqual(p256Pkcs8Der(scalar), der);
  }
  const ed = generateKeyPairSync('ed25519').privateKey.export({ format: 'der', type: 'pkcs8' });
  assert.throws(() => p256ScalarFromPkcs8(new Uint8Array(ed)), /PKCS#8/);
  const k1 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).privateKey.export({ format: 'der', type: 'pkcs8' });
  assert.throws(() => p256ScalarFromPkcs8(new Uint8Array(k1)), /prime256v1/);
  assert.throws(() => p256ScalarFromPkcs8(ROOT_DER.subarray(0, 100)), /PKCS#8/);
  assert.throws(() => p256ScalarFromPkcs8(new Uint8Array(0)), /PKCS#8/);
});

test('deriveAppDiskKey = derive_dh_secret(root, [app_id, instance_id, "app-disk-crypt-key"])', () => {
  const appId = '9012345678901234567890123456789012345678';
  const instanceId = '0123456789abcdef0123456789abcdef01234567';
  const disk = deriveAppDiskKey(ROOT, appId, instanceId);
  const info = cat(fromHex(appId), fromHex(instanceId), utf8('app-disk-crypt-key'));
  assert.deepEqual(disk, referenceDhSecret(ROOT, info));
  assert.notDeepEqual(disk, deriveAppDiskKey(ROOT, appId, 'ff'.repeat(20)));
  // no_instance_id apps have an empty instance id.
  assert.deepEqual(deriveAppDiskKey(ROOT, appId, ''), referenceDhSecret(ROOT, cat(fromHex(appId), utf8('app-disk-crypt-key'))));
});

test('deriveAppEnvKeyPair matches the reference pipeline for random roots', () => {
  for (let i = 0; i < 3; i++) {
    const { caScalar } = generateRootKeys();
    const appId = toHex(p256.utils.randomSecretKey().subarray(0, 20));
    const { secret } = deriveAppEnvKeyPair(caScalar, appId);
    assert.deepEqual(secret, referenceDhSecret(caScalar, cat(fromHex(appId), utf8('env-encrypt-key'))));
  }
});

test('keccak256 is Ethereum Keccak-256', () => {
  assert.equal(toHex(keccak256(new Uint8Array(0))), 'c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470');
  assert.equal(toHex(keccak256(utf8('abc'))), '4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45');
});

// ---------------------------------------------------------------------------------------------
// Env public key signatures (dstack SDK `verifyEnvEncryptPublicKey`)
// ---------------------------------------------------------------------------------------------

const UPSTREAM_SIG = {
  publicKey: fromHex('e33a1832c6562067ff8f844a61e51ad051f1180b66ec2551fb0251735f3ee90a'),
  appId: '0000000000000000000000000000000000000000',
  signature: fromHex(
    '8542c49081fbf4e03f62034f13fbf70630bdf256a53032e38465a27c36fd6bed7a5e7111652004aef37f7fd92fbfc1285212c4ae6a6154203a48f5e16cad2cef00',
  ),
  signer: '0x0217610d74cbd39b6143842c6d8bc310d79da1d82cc9d17f8876376221eda0c38f',
};

test('dstack SDK legacy signature vector recovers the KMS k256 key', () => {
  const { publicKey, appId, signature, signer } = UPSTREAM_SIG;
  assert.equal(recoverEnvPubkeySigner(publicKey, signature, appId), signer);
  assert.equal(recoverEnvPubkeySigner(publicKey, signature, `0x${appId}`), signer);
  assert.equal(verifyEnvEncryptPublicKey(publicKey, signature, appId), signer);
  // v = 27/28 (Go accepts it) recovers the same key.
  const v27 = Uint8Array.from(signature);
  v27[64] += 27;
  assert.equal(recoverEnvPubkeySigner(publicKey, v27, appId), signer);
  // Another app id or public key recovers someone else.
  assert.notEqual(recoverEnvPubkeySigner(publicKey, signature, '11'.repeat(20)), signer);
});

const V1 = {
  priv: new Uint8Array(32).fill(0x01),
  compressed: '031b84c5567b126440995d3ed5aaba0565d71e1834604819ff9c17f5e9d5dd078f',
  appId: 'ab'.repeat(20),
  publicKey: new Uint8Array(32).fill(0xde),
  timestamp: 1700000000,
  message:
    '64737461636b2d656e762d656e63727970742d7075626b65793aabababababababababababababababababababab000000006553f100dededededededededededededededededededededededededededededededede',
  keccak: '78c189bed752d03b91387a08bcc892f396affe70e7433129da6f03cdff8c7f11',
  signatureV1:
    'c9e643b59985ab43c0ae4ec75e302d9d7a70abe0212f9928d5fc56563aa56b5415271d9ea4dd8d02125359dae4267d704c374ba72a829bece6e16b5e3cdfc9f600',
  legacy:
    '266350979b1840e2b62ba14f17ac5f234034fbf2d2b0f19f453165d2e4b42dae07b1c531b2f5313d163671cd6fb8dba611b05471793cf9fe194d196cd5e1a88400',
};

test('computed v1 vector: message, digest, signature (fixed timestamp, no clock)', () => {
  assert.equal(toHex(k256CompressedPublicKey(V1.priv)), V1.compressed);
  assert.equal(toHex(keccak256(fromHex(V1.message))), V1.keccak);
  const digest = signedMessageDigest('dstack-env-encrypt-pubkey', fromHex(V1.appId), V1.publicKey, V1.timestamp);
  assert.equal(toHex(digest), V1.keccak);

  const sigV1 = signEnvPubkeyV1(V1.priv, V1.appId, V1.publicKey, V1.timestamp);
  assert.equal(toHex(sigV1), V1.signatureV1);
  assert.deepEqual(signEnvPubkeyV1(V1.priv, V1.appId, V1.publicKey, BigInt(V1.timestamp)), sigV1);
  assert.equal(recoverSigner(sigV1, digest), `0x${V1.compressed}`);
  assert.equal(recoverEnvPubkeySigner(V1.publicKey, sigV1, V1.appId, V1.timestamp), `0x${V1.compressed}`);
  // The v1 signature does not verify as a legacy one.
  assert.notEqual(recoverEnvPubkeySigner(V1.publicKey, sigV1, V1.appId), `0x${V1.compressed}`);
});

test('computed legacy vector with the same key', () => {
  const sig = signEnvPubkey(V1.priv, V1.appId, V1.publicKey);
  assert.equal(toHex(sig), V1.legacy);
  assert.deepEqual(signMessage(V1.priv, 'dstack-env-encrypt-pubkey', fromHex(V1.appId), V1.publicKey), sig);
  assert.equal(verifyEnvEncryptPublicKey(V1.publicKey, sig, V1.appId), `0x${V1.compressed}`);
});

test('interop: dstack-sdk verifyEnvEncryptPublicKey recovers our root k256 key for signEnvPubkey', () => {
  for (let i = 0; i < 5; i++) {
    const { caScalar, k256 } = generateRootKeys();
    const appId = toHex(secp256k1.utils.randomSecretKey().subarray(0, 20));
    const { publicKey } = deriveAppEnvKeyPair(caScalar, appId);
    const sig = signEnvPubkey(k256, appId, publicKey);
    const expected = `0x${toHex(k256CompressedPublicKey(k256))}`;
    assert.equal(verifyEnvEncryptPublicKey(publicKey, sig, appId), expected);
    assert.equal(verifyEnvEncryptPublicKey(publicKey, sig, `0x${appId}`), expected);
    assert.equal(recoverEnvPubkeySigner(publicKey, sig, appId), expected);
  }
});

test('signatures are deterministic, low-S and carry recid 0/1', () => {
  const halfN = secp256k1.Point.CURVE().n / 2n;
  const { k256 } = generateRootKeys();
  const appId = fromHex('12'.repeat(20));
  const seen = new Set<number>();
  for (let i = 0; i < 32; i++) {
    const msg = utf8(`message ${i}`);
    const sig = signMessage(k256, 'prefix', appId, msg, i);
    assert.equal(sig.length, 65);
    assert.ok(BigInt(`0x${toHex(sig.subarray(32, 64))}`) <= halfN, 'high S');
    assert.ok(sig[64] === 0 || sig[64] === 1);
    seen.add(sig[64]);
    assert.deepEqual(signMessage(k256, 'prefix', appId, msg, i), sig);
    const digest = keccak256(cat(utf8('prefix:'), appId, fromHex(i.toString(16).padStart(16, '0')), msg));
    assert.equal(recoverSigner(sig, digest), `0x${toHex(k256CompressedPublicKey(k256))}`);
  }
  assert.equal(seen.size, 2, 'both recovery ids should occur over 32 signatures');
});

test('deriveAppK256Key: derive_key(root, [app_id, "app-key"]) and a dstack-kms-issued signature', () => {
  const appId = '9012345678901234567890123456789012345678';
  const { key, signature } = deriveAppK256Key(V1.priv, appId);
  assert.deepEqual(key, referenceHkdf(V1.priv, cat(fromHex(appId), utf8('app-key')), 32));
  assert.ok(secp256k1.utils.isValidSecretKey(key));
  const digest = keccak256(cat(utf8('dstack-kms-issued:'), fromHex(appId), k256CompressedPublicKey(key)));
  assert.equal(recoverSigner(signature, digest), `0x${V1.compressed}`);
  assert.deepEqual(signature, signMessage(V1.priv, 'dstack-kms-issued', fromHex(appId), k256CompressedPublicKey(key)));
});

test('recoverSigner and key helpers reject malformed input', () => {
  const digest = new Uint8Array(32);
  assert.throws(() => recoverSigner(new Uint8Array(64), digest), /65 bytes/);
  assert.throws(() => recoverSigner(fromHex(V1.signatureV1), new Uint8Array(31)), /32 bytes/);
  const badV = fromHex(V1.signatureV1);
  badV[64] = 5;
  assert.throws(() => recoverSigner(badV, digest), /recovery id/);
  assert.throws(() => k256CompressedPublicKey(new Uint8Array(32)), /not a valid scalar/);
  assert.throws(() => p256Pkcs8Der(new Uint8Array(32).fill(0xff)), /not a valid scalar/);
  assert.throws(() => signMessage(new Uint8Array(31), 'p', digest, digest), /32-byte scalar/);
  assert.throws(() => signEnvPubkeyV1(V1.priv, V1.appId, V1.publicKey, -1), /unsigned 64-bit/);
});

test('generateRootKeys returns distinct valid scalars', () => {
  const a = generateRootKeys();
  const b = generateRootKeys();
  assert.equal(a.caScalar.length, 32);
  assert.equal(a.k256.length, 32);
  assert.ok(p256.utils.isValidSecretKey(a.caScalar));
  assert.ok(secp256k1.utils.isValidSecretKey(a.k256));
  assert.notDeepEqual(a.caScalar, b.caScalar);
  assert.notDeepEqual(a.k256, b.k256);
  // The CA root round-trips through PKCS#8, as the KMS stores it.
  assert.deepEqual(p256ScalarFromPkcs8(p256Pkcs8Der(a.caScalar)), a.caScalar);
});
