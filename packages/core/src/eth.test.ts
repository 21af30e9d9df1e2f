import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getAddress, getContractAddress } from 'viem';
import { checksumAddress, createAddress } from './eth.ts';

const NONCES = [0, 1, 127, 128, 255, 256, 65536, 2 ** 32];
const DEPLOYERS = [
  '0x6ac7ea33f8831ea9dcc53393aaa88b25a785dbf0',
  '0x0000000000000000000000000000000000000000',
  '0xffffffffffffffffffffffffffffffffffffffff',
  '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266', // anvil account 0, mixed case
] as const;

test('createAddress equals viem getContractAddress for the boundary nonces', () => {
  for (const from of DEPLOYERS) {
    for (const nonce of NONCES) {
      const expected = getContractAddress({ from, nonce: BigInt(nonce) }).toLowerCase().slice(2);
      assert.equal(createAddress(from, nonce), expected, `${from} nonce ${nonce}`);
      assert.equal(createAddress(from, BigInt(nonce)), expected);
    }
  }
  // Very large (bigint-only) nonces still match.
  const big = 2n ** 64n - 1n;
  assert.equal(createAddress(DEPLOYERS[0], big), getContractAddress({ from: DEPLOYERS[0], nonce: big }).toLowerCase().slice(2));
});

test('createAddress known answers, format and input checks', () => {
  // Well-known example: 0x6ac7…dbf0 → 0xcd234a…, 0x343c43…
  assert.equal(createAddress('6ac7ea33f8831ea9dcc53393aaa88b25a785dbf0', 0), 'cd234a471b72ba2f1ccf0a70fcaba648a5eecd8d');
  assert.equal(createAddress('0x6ac7ea33f8831ea9dcc53393aaa88b25a785dbf0', 1), '343c43a37d37dff08ae8c4a11544c718abb4fcf8');
  assert.match(createAddress(DEPLOYERS[3], 7), /^[0-9a-f]{40}$/);
  assert.throws(() => createAddress('0x1234', 0), /20 bytes/);
  assert.throws(() => createAddress(DEPLOYERS[0], -1), /non-negative/);
  assert.throws(() => createAddress(DEPLOYERS[0], 1.5), /safe integer/);
});

test('checksumAddress implements EIP-55', () => {
  // Vectors from EIP-55.
  for (const addr of [
    '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed',
    '0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359',
    '0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB',
    '0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb',
    '0x52908400098527886E0F7030069857D2E4169EE7',
    '0x8617E340B3D01FA5F11F306F4090FD50E238070D',
    '0xde709f2102306220921060314715629080e2fb77',
    '0x27b1fdb04752bbc536007a920d24acb045561c26',
  ]) {
    assert.equal(checksumAddress(addr.toLowerCase()), addr);
    assert.equal(checksumAddress(addr.slice(2).toUpperCase()), addr);
  }
  for (const from of DEPLOYERS) {
    const created = createAddress(from, 3);
    assert.equal(checksumAddress(created), getAddress(`0x${created}`));
  }
  assert.throws(() => checksumAddress('0x12'), /20 bytes/);
});
