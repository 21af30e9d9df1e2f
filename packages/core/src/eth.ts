/**
 * Small Ethereum helpers: CREATE contract addresses and EIP-55 checksums
 * (used for on-chain app ids: with an on-chain KMS the app id is the address of the app's DstackApp contract).
 */
import { keccak_256 } from '@noble/hashes/sha3.js';
import { fromHex, toHex } from './hex.ts';

const ADDRESS_LEN = 20;

/** Parses a 20-byte address given as hex (optional `0x`, any case). */
function addressBytes(hex: string): Uint8Array {
  const bytes = fromHex(hex);
  if (bytes.length !== ADDRESS_LEN) throw new Error(`address must be ${ADDRESS_LEN} bytes, got ${bytes.length}`);
  return bytes;
}

/** Minimal big-endian bytes of a non-negative integer (empty for zero), as RLP encodes integers. */
function integerBytes(value: bigint): Uint8Array {
  if (value === 0n) return new Uint8Array(0);
  const hex = value.toString(16);
  return fromHex(hex.length % 2 === 0 ? hex : `0${hex}`);
}

/** RLP length prefix for a string (`offset` 0x80) or list (`offset` 0xc0) payload of `length` bytes. */
function rlpLengthPrefix(length: number, offset: number): Uint8Array {
  if (length <= 55) return Uint8Array.of(offset + length);
  const lengthBytes = integerBytes(BigInt(length));
  return Uint8Array.of(offset + 55 + lengthBytes.length, ...lengthBytes);
}

/** RLP encoding of a byte string. */
function rlpBytes(bytes: Uint8Array): Uint8Array {
  if (bytes.length === 1 && bytes[0] < 0x80) return bytes;
  return Uint8Array.of(...rlpLengthPrefix(bytes.length, 0x80), ...bytes);
}

/** RLP encoding of a list of already-encoded items. */
function rlpList(items: Uint8Array[]): Uint8Array {
  const payload = Uint8Array.of(...items.flatMap((item) => [...item]));
  return Uint8Array.of(...rlpLengthPrefix(payload.length, 0xc0), ...payload);
}

/**
 * Address of a contract deployed with CREATE by `deployerHex` at `nonce`:
 * keccak256(rlp([deployer, nonce]))[12:], as 40 lowercase hex characters without `0x`.
 */
export function createAddress(deployerHex: string, nonce: number | bigint): string {
  if (typeof nonce === 'number' && !Number.isSafeInteger(nonce)) throw new Error('nonce must be a safe integer');
  const n = BigInt(nonce);
  if (n < 0n) throw new Error('nonce must be non-negative');
  const encoded = rlpList([rlpBytes(addressBytes(deployerHex)), rlpBytes(integerBytes(n))]);
  return toHex(keccak_256(encoded).subarray(12));
}

/** EIP-55 mixed-case checksum form of a 20-byte address (input: 40 hex chars, optional `0x`), with `0x`. */
export function checksumAddress(hex40: string): string {
  const lower = toHex(addressBytes(hex40));
  const hash = toHex(keccak_256(Buffer.from(lower, 'ascii')));
  let out = '0x';
  for (let i = 0; i < lower.length; i++) {
    out += parseInt(hash[i], 16) >= 8 ? lower[i].toUpperCase() : lower[i];
  }
  return out;
}
