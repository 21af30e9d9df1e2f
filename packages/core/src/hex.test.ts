import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fromHex, isHex, toHex } from './hex.ts';

test('toHex writes lowercase hex without 0x', () => {
  assert.equal(toHex(Uint8Array.of(0x00, 0x0a, 0xff, 0xab)), '000affab');
  assert.equal(toHex(new Uint8Array(0)), '');
  // A view into a larger buffer only encodes its own bytes.
  const view = Uint8Array.of(1, 2, 3, 4).subarray(1, 3);
  assert.equal(toHex(view), '0203');
});

test('fromHex accepts optional 0x and either case', () => {
  assert.deepEqual(fromHex('0x00Ff10'), Uint8Array.of(0, 255, 16));
  assert.deepEqual(fromHex('0X0a'), Uint8Array.of(10));
  assert.deepEqual(fromHex('abCD'), Uint8Array.of(0xab, 0xcd));
  assert.deepEqual(fromHex(''), new Uint8Array(0));
  assert.deepEqual(fromHex('0x'), new Uint8Array(0));
});

test('fromHex rejects odd length and non-hex characters with a clear message', () => {
  assert.throws(() => fromHex('abc'), /odd number of hex digits/);
  assert.throws(() => fromHex('0xzz'), /non-hex/);
  assert.throws(() => fromHex('12 4'), /non-hex/);
  assert.throws(() => fromHex('0x0x00'), /non-hex/);
});

test('isHex checks syntax and optional byte length', () => {
  assert.equal(isHex('0xdeadbeef'), true);
  assert.equal(isHex('DEADBEEF', 4), true);
  assert.equal(isHex('deadbeef', 5), false);
  assert.equal(isHex('abc'), false);
  assert.equal(isHex('xyz0'), false);
  assert.equal(isHex(''), true);
  assert.equal(isHex('', 0), true);
  assert.equal(isHex('00'.repeat(20), 20), true);
});
