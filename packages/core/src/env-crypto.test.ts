import { test } from 'node:test';
import assert from 'node:assert/strict';
import { webcrypto } from 'node:crypto';
import { x25519 } from '@noble/curves/ed25519.js';
import { encryptEnvVars } from '@phala/dstack-sdk/encrypt-env-vars';
import {
  ENV_LIMITS,
  EnvDecryptError,
  type EnvVar,
  decryptEnv,
  decryptEnvBytes,
  encryptEnv,
  filterAllowedEnvs,
  generateX25519KeyPair,
  validateEnvVars,
  x25519PublicKey,
} from './env-crypto.ts';
import { fromHex, toHex } from './hex.ts';

// ---------------------------------------------------------------------------------------------
// Independent reference implementation (noble x25519 + WebCrypto AES-GCM), used only by the tests.
// ---------------------------------------------------------------------------------------------

async function aesKey(shared: Uint8Array, usage: 'encrypt' | 'decrypt'): Promise<webcrypto.CryptoKey> {
  return webcrypto.subtle.importKey('raw', shared, { name: 'AES-GCM' }, false, [usage]);
}

/** Decrypts `eph_pub(32) ‖ iv(12) ‖ ct ‖ tag(16)` the way dstack-util `dh_decrypt` does. */
async function referenceDecrypt(hex: string, secret: Uint8Array): Promise<Uint8Array> {
  const data = fromHex(hex);
  const shared = x25519.getSharedSecret(secret, data.subarray(0, 32));
  const plain = await webcrypto.subtle.decrypt(
    { name: 'AES-GCM', iv: data.subarray(32, 44) },
    await aesKey(shared, 'decrypt'),
    data.subarray(44),
  );
  return new Uint8Array(plain);
}

/** Encrypts arbitrary plaintext bytes to `recipientPublic` with the same layout (for shape tests). */
async function referenceEncrypt(plaintext: Uint8Array, recipientPublic: Uint8Array): Promise<string> {
  const eph = x25519.utils.randomSecretKey();
  const iv = webcrypto.getRandomValues(new Uint8Array(12));
  const shared = x25519.getSharedSecret(eph, recipientPublic);
  const ct = await webcrypto.subtle.encrypt({ name: 'AES-GCM', iv }, await aesKey(shared, 'encrypt'), plaintext);
  return toHex(Uint8Array.from([...x25519.getPublicKey(eph), ...iv, ...new Uint8Array(ct)]));
}

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array): string => new TextDecoder().decode(b);

// ---------------------------------------------------------------------------------------------
// Vectors: dstack-util's `crypto.rs::test_dh_decrypt`, and a deterministic known-answer test
// ---------------------------------------------------------------------------------------------

const UPSTREAM = {
  secret: fromHex('7c282bf94b35dc47801dc953bfa0896fc2bd313381d3e8eca4e42f6536d2a96f'),
  publicKey: 'b5ee2e67280ef8c9540850e90e6b7ee1b5e7ef011301bde95a2e6f953d04d201',
  ciphertext:
    '0bd18749612f4c8b9dd583c7d6a646b90abd34e3c731a7708d0caf9039095641e1f0948e775f0b7351788db7f246d51806954626dcccb6a60d64665ca3715c6bef75616cab476d27bba04080361200d6a58cec',
  plaintext: '[{"key":"","value":""}]',
};

const KAT = {
  recipientSecret: fromHex('0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20'),
  recipientPublic: '07a37cbc142093c8b755dc1b10e86cb426374ad16aa853ed0bdfc0b2b86d1c7c',
  ephemeralSecret: new Uint8Array(32).fill(0x42),
  ephemeralPublic: '132c442be010fbd57e72603328aa76e71fccc1503aae219327d14d9c9993f472',
  shared: 'cee33c43821b272c6d690aea5cbdddca86bdc0812203cc004656bda4c37f3a26',
  iv: fromHex('000102030405060708090a0b'),
  envs: [
    { key: 'FOO', value: 'bar' },
    { key: 'SECRET', value: '123' },
  ],
  plaintext: '{"env":[{"key":"FOO","value":"bar"},{"key":"SECRET","value":"123"}]}',
  output:
    '132c442be010fbd57e72603328aa76e71fccc1503aae219327d14d9c9993f472000102030405060708090a0b66a361f3976978796cdde062a965eb0ab70dc1fc72dd6907984e8195c6778669cb7dd866eba28308267521c3981ad7b1d6c8660ef7c4182d214164b9ab441b6bb97e66b5ab6e9f5f6e8ee92cd6047fca8e90ca61',
};

test('dstack-util test_dh_decrypt vector: public key and crypto-layer decryption', async () => {
  assert.equal(toHex(x25519PublicKey(UPSTREAM.secret)), UPSTREAM.publicKey);
  assert.equal(text(decryptEnvBytes(UPSTREAM.ciphertext, UPSTREAM.secret)), UPSTREAM.plaintext);
  // The reference implementation agrees, so the vector itself is checked independently.
  assert.equal(text(await referenceDecrypt(UPSTREAM.ciphertext, UPSTREAM.secret)), UPSTREAM.plaintext);
  // Old payload shape (a bare array): the current parse_env requires the {"env":[...]} wrapper.
  assert.throws(() => decryptEnv(UPSTREAM.ciphertext, UPSTREAM.secret), EnvDecryptError);
});

test('deterministic known-answer test: keys, shared secret and exact output', async () => {
  assert.equal(toHex(x25519PublicKey(KAT.recipientSecret)), KAT.recipientPublic);
  assert.equal(toHex(x25519PublicKey(KAT.ephemeralSecret)), KAT.ephemeralPublic);
  assert.equal(toHex(x25519.getSharedSecret(KAT.ephemeralSecret, fromHex(KAT.recipientPublic))), KAT.shared);
  assert.equal(JSON.stringify({ env: KAT.envs }), KAT.plaintext);

  const out = encryptEnv(KAT.envs, KAT.recipientPublic, { ephemeralSecret: KAT.ephemeralSecret, iv: KAT.iv });
  assert.equal(out, KAT.output);
  assert.equal(fromHex(out).length, 60 + KAT.plaintext.length);
  // `0x` on the recipient key is accepted and changes nothing.
  assert.equal(encryptEnv(KAT.envs, `0x${KAT.recipientPublic}`, { ephemeralSecret: KAT.ephemeralSecret, iv: KAT.iv }), KAT.output);

  assert.deepEqual(decryptEnv(KAT.output, KAT.recipientSecret), KAT.envs);
  assert.equal(text(decryptEnvBytes(`0x${KAT.output}`, KAT.recipientSecret)), KAT.plaintext);
  assert.equal(text(await referenceDecrypt(KAT.output, KAT.recipientSecret)), KAT.plaintext);
});

// ---------------------------------------------------------------------------------------------
// Interop with @phala/dstack-sdk and the independent implementation
// ---------------------------------------------------------------------------------------------

const sampleEnvs: EnvVar[] = [
  { key: 'DATABASE_URL', value: 'postgres://u:p@db:5432/app?sslmode=require' },
  { key: 'UNICODE', value: 'héllo 你好 🚀 "quotes" \\ and\nnewline' },
  { key: 'EMPTY', value: '' },
];

test('interop: @phala/dstack-sdk encryptEnvVars output decrypts with decryptEnv', async () => {
  const { secret, publicKey } = generateX25519KeyPair();
  for (const pubHex of [toHex(publicKey), `0x${toHex(publicKey)}`]) {
    const encrypted = await encryptEnvVars(sampleEnvs, pubHex);
    assert.match(encrypted, /^[0-9a-f]+$/);
    assert.deepEqual(decryptEnv(encrypted, secret), sampleEnvs);
  }
  assert.deepEqual(decryptEnv(await encryptEnvVars([], toHex(publicKey)), secret), []);
});

test('interop: encryptEnv output decrypts with an independent noble + WebCrypto decryption', async () => {
  const { secret, publicKey } = generateX25519KeyPair();
  assert.deepEqual(publicKey, x25519.getPublicKey(secret));
  const encrypted = encryptEnv(sampleEnvs, toHex(publicKey));
  assert.match(encrypted, /^[0-9a-f]+$/);
  const plain = text(await referenceDecrypt(encrypted, secret));
  assert.equal(plain, JSON.stringify({ env: sampleEnvs }));
  // Fresh ephemeral key and IV on every call.
  const again = encryptEnv(sampleEnvs, toHex(publicKey));
  assert.notEqual(again.slice(0, 88), encrypted.slice(0, 88));
});

test('generateX25519KeyPair returns 32-byte keys that agree with noble', () => {
  const a = generateX25519KeyPair();
  const b = generateX25519KeyPair();
  assert.equal(a.secret.length, 32);
  assert.equal(a.publicKey.length, 32);
  assert.notDeepEqual(a.secret, b.secret);
  assert.deepEqual(x25519PublicKey(a.secret), x25519.getPublicKey(a.secret));
});

// ---------------------------------------------------------------------------------------------
// Negative cases
// ---------------------------------------------------------------------------------------------

function assertDecryptError(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof EnvDecryptError, `expected EnvDecryptError, got ${String(err)}`);
    assert.ok(err instanceof Error);
    assert.equal(err.name, 'EnvDecryptError');
    assert.match(err.message, message);
    return true;
  });
}

test('wrong key: EnvDecryptError saying authentication failed', () => {
  const other = generateX25519KeyPair();
  assertDecryptError(() => decryptEnv(KAT.output, other.secret), /authentication failed.*different key.*corrupted/);
  assertDecryptError(() => decryptEnvBytes(UPSTREAM.ciphertext, KAT.recipientSecret), /authentication failed/);
});

test('corrupted or truncated payloads', () => {
  // Shorter than eph_pub + iv + tag.
  assertDecryptError(() => decryptEnv(KAT.output.slice(0, 118), KAT.recipientSecret), /too short: 59 bytes.*at least 60/);
  assertDecryptError(() => decryptEnv('', KAT.recipientSecret), /too short: 0 bytes/);
  // Long enough, but the tag was cut off.
  assertDecryptError(() => decryptEnv(KAT.output.slice(0, -2), KAT.recipientSecret), /authentication failed/);
  // One flipped ciphertext bit.
  const bytes = fromHex(KAT.output);
  bytes[50] ^= 0x01;
  assertDecryptError(() => decryptEnv(toHex(bytes), KAT.recipientSecret), /authentication failed/);
});

test('not hex: EnvDecryptError', () => {
  assertDecryptError(() => decryptEnv('zz'.repeat(80), KAT.recipientSecret), /not valid hex/);
  assertDecryptError(() => decryptEnv(KAT.output.slice(1), KAT.recipientSecret), /not valid hex.*odd/);
});

test('low-order ephemeral key: EnvDecryptError about the all-zero shared secret', () => {
  const payload = toHex(new Uint8Array(32)) + KAT.output.slice(64);
  assertDecryptError(() => decryptEnv(payload, KAT.recipientSecret), /all-zero X25519 shared secret/);
  assert.throws(() => encryptEnv(KAT.envs, '00'.repeat(32)), /all-zero/);
});

test('encryptEnv rejects malformed recipient keys and IVs', () => {
  assert.throws(() => encryptEnv(KAT.envs, 'abcd'), /32 bytes/);
  assert.throws(() => encryptEnv(KAT.envs, 'xyz'), /hex/);
  assert.throws(() => encryptEnv(KAT.envs, KAT.recipientPublic, { iv: new Uint8Array(16) }), /IV must be 12 bytes/);
});

test('bad JSON shape after successful decryption: EnvDecryptError', async () => {
  const { secret, publicKey } = generateX25519KeyPair();
  const cases: [string, RegExp][] = [
    ['not json', /not valid UTF-8 JSON/],
    ['[]', /wrong shape/],
    ['null', /wrong shape/],
    ['"env"', /wrong shape/],
    ['{"env":{}}', /wrong shape/],
    ['{"envs":[]}', /wrong shape/],
    ['{"env":[{"key":"A"}]}', /item 0 must be an object with string "key" and "value"/],
    ['{"env":[{"key":"A","value":"b"},{"key":1,"value":"x"}]}', /item 1/],
    ['{"env":[null]}', /item 0/],
    ['{"env":["A=b"]}', /item 0/],
  ];
  for (const [plaintext, message] of cases) {
    const encrypted = await referenceEncrypt(utf8(plaintext), publicKey);
    assertDecryptError(() => decryptEnv(encrypted, secret), message);
  }
  // Invalid UTF-8 is rejected rather than silently replaced.
  const badUtf8 = await referenceEncrypt(Uint8Array.of(0x7b, 0xff, 0x7d), publicKey);
  assertDecryptError(() => decryptEnv(badUtf8, secret), /not valid UTF-8 JSON/);
  // Extra fields are ignored, as serde does upstream.
  const extra = await referenceEncrypt(utf8('{"env":[{"key":"A","value":"b","x":1}],"v":2}'), publicKey);
  assert.deepEqual(decryptEnv(extra, secret), [{ key: 'A', value: 'b' }]);
});

// ---------------------------------------------------------------------------------------------
// allowed_envs and parse_env rules (dstack-util `parse_env_file.rs`)
// ---------------------------------------------------------------------------------------------

test('filterAllowedEnvs keeps listed keys in order and reports the dropped ones', () => {
  const envs = [
    { key: 'A', value: '1' },
    { key: 'B', value: '2' },
    { key: 'C', value: '3' },
    { key: 'a', value: '4' },
  ];
  assert.deepEqual(filterAllowedEnvs(envs, ['C', 'A']), {
    kept: [
      { key: 'A', value: '1' },
      { key: 'C', value: '3' },
    ],
    dropped: ['B', 'a'],
  });
  // An empty allow-list drops everything.
  assert.deepEqual(filterAllowedEnvs(envs, []), { kept: [], dropped: ['A', 'B', 'C', 'a'] });
});

test('validateEnvVars accepts valid input at the limits', () => {
  assert.equal(validateEnvVars([]), null);
  assert.equal(validateEnvVars([{ key: '_a1', value: '' }, { key: 'Z', value: 'x y $z' }]), null);
  assert.equal(validateEnvVars([{ key: 'K'.repeat(255), value: 'v'.repeat(128 * 1024) }]), null);
  assert.equal(validateEnvVars(Array.from({ length: 1024 }, (_, i) => ({ key: `K${i}`, value: '' }))), null);
  assert.equal(ENV_LIMITS.maxTotalBytes, 1024 * 1024);
});

test('validateEnvVars enforces count, key syntax, key/value/total sizes', () => {
  const many = Array.from({ length: 1025 }, (_, i) => ({ key: `K${i}`, value: '' }));
  assert.match(validateEnvVars(many) ?? '', /too many environment variables: 1025/);
  for (const key of ['', '1ABC', 'A-B', 'A.B', 'A B', 'ÄB', 'A=B']) {
    assert.match(validateEnvVars([{ key, value: '' }]) ?? '', /invalid environment variable key/, key);
  }
  assert.match(validateEnvVars([{ key: 'K'.repeat(256), value: '' }]) ?? '', /key is too long: 256 bytes/);
  assert.match(validateEnvVars([{ key: 'V', value: 'v'.repeat(128 * 1024 + 1) }]) ?? '', /value of environment variable V is too long/);
  // Lengths are UTF-8 bytes: 43691 three-byte characters are over 128 KiB.
  assert.match(validateEnvVars([{ key: 'V', value: '你'.repeat(43691) }]) ?? '', /too long: 131073 bytes/);
  const big = Array.from({ length: 9 }, (_, i) => ({ key: `K${i}`, value: 'v'.repeat(128 * 1024) }));
  assert.match(validateEnvVars(big) ?? '', /too large/);
  assert.equal(validateEnvVars(big.slice(0, 7)), null);
});
