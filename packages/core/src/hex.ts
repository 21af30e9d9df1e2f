/**
 * Hex helpers used across the dstack wire formats (in pRPC JSON, `bytes` are lowercase hex without `0x`).
 */

const HEX_BODY = /^[0-9a-fA-F]*$/;

/** Removes one leading `0x` / `0X`, if present. */
function strip0x(s: string): string {
  return s.startsWith('0x') || s.startsWith('0X') ? s.slice(2) : s;
}

/** Lowercase hex of `b`, without a `0x` prefix. */
export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/**
 * Parses hex (an optional `0x` prefix is accepted, either case).
 * Throws an Error on odd length or on a non-hex character.
 */
export function fromHex(s: string): Uint8Array {
  if (typeof s !== 'string') throw new Error(`fromHex: expected a string, got ${typeof s}`);
  const body = strip0x(s);
  if (body.length % 2 !== 0) {
    throw new Error(`fromHex: odd number of hex digits (${body.length})`);
  }
  if (!HEX_BODY.test(body)) {
    throw new Error('fromHex: string contains non-hex characters');
  }
  return new Uint8Array(Buffer.from(body, 'hex'));
}

/**
 * True when `s` is valid hex (optional `0x`, even length) and, if `bytes` is given,
 * encodes exactly that many bytes.
 */
export function isHex(s: string, bytes?: number): boolean {
  if (typeof s !== 'string') return false;
  const body = strip0x(s);
  if (body.length % 2 !== 0 || !HEX_BODY.test(body)) return false;
  return bytes === undefined || body.length === bytes * 2;
}
