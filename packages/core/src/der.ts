/**
 * A minimal DER (ASN.1) reader and writer: enough to build an X.509 certificate carrying dstack's RA-TLS
 * extensions (the simulated guest's app certificate) and to find those extensions again in any certificate.
 * Tag numbers below 31 only, definite lengths only (what DER allows).
 */

export interface DerNode {
  tag: number;
  /** the value bytes */
  value: Uint8Array;
  /** the whole element: tag, length and value */
  raw: Uint8Array;
}

/** Reads one element at `offset`; throws on a truncated or indefinite-length element. */
export function readDer(buf: Uint8Array, offset = 0): DerNode & { end: number } {
  if (offset + 2 > buf.length) throw new Error('DER: truncated element');
  const tag = buf[offset];
  if ((tag & 0x1f) === 0x1f) throw new Error('DER: high tag numbers are not supported');
  let len = buf[offset + 1];
  let p = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw new Error('DER: unsupported length');
    if (p + n > buf.length) throw new Error('DER: truncated length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p + i];
    p += n;
  }
  const end = p + len;
  if (end > buf.length) throw new Error('DER: element runs past the end');
  return { tag, value: buf.subarray(p, end), raw: buf.subarray(offset, end), end };
}

/** The elements of a constructed value (SEQUENCE, SET, context-specific). */
export function derChildren(value: Uint8Array): DerNode[] {
  const out: DerNode[] = [];
  let p = 0;
  while (p < value.length) {
    const n = readDer(value, p);
    out.push({ tag: n.tag, value: n.value, raw: n.raw });
    p = n.end;
  }
  return out;
}

/** An OBJECT IDENTIFIER's value bytes → dotted text. */
export function decodeOid(v: Uint8Array): string {
  if (v.length === 0) throw new Error('DER: empty OID');
  const parts: number[] = [];
  const first = v[0];
  parts.push(first < 80 ? Math.floor(first / 40) : 2, first < 80 ? first % 40 : first - 80);
  let acc = 0;
  for (let i = 1; i < v.length; i++) {
    acc = acc * 128 + (v[i] & 0x7f);
    if (!(v[i] & 0x80)) {
      parts.push(acc);
      acc = 0;
    }
  }
  return parts.join('.');
}

// ---- writer ----

function lengthBytes(n: number): number[] {
  if (n < 0x80) return [n];
  const bytes: number[] = [];
  while (n > 0) {
    bytes.unshift(n & 0xff);
    n = Math.floor(n / 256);
  }
  return [0x80 | bytes.length, ...bytes];
}

/** One element: tag + length + value. */
export function der(tag: number, ...parts: Uint8Array[]): Uint8Array {
  const value = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([tag, ...lengthBytes(value.length)]), value]);
}

export const derSeq = (...parts: Uint8Array[]) => der(0x30, ...parts);
export const derSet = (...parts: Uint8Array[]) => der(0x31, ...parts);
export const derOctets = (b: Uint8Array) => der(0x04, b);
export const derUtf8 = (s: string) => der(0x0c, Buffer.from(s, 'utf8'));
export const derBool = (b: boolean) => der(0x01, Buffer.from([b ? 0xff : 0]));
export const derNull = () => Buffer.from([0x05, 0x00]);
/** A context-specific constructed (explicit) tag `[n]`. */
export const derExplicit = (n: number, inner: Uint8Array) => der(0xa0 | n, inner);

/** A non-negative INTEGER from its big-endian bytes (a leading zero added when the top bit is set). */
export function derUint(b: Uint8Array): Uint8Array {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  const v = b.subarray(i);
  return der(0x02, v[0] & 0x80 ? Buffer.concat([Buffer.from([0]), v]) : v);
}

export function derOid(dotted: string): Uint8Array {
  const n = dotted.split('.').map(Number);
  const out: number[] = [n[0] * 40 + n[1]];
  for (const x of n.slice(2)) {
    const chunk: number[] = [x & 0x7f];
    let rest = Math.floor(x / 128);
    while (rest > 0) {
      chunk.unshift((rest & 0x7f) | 0x80);
      rest = Math.floor(rest / 128);
    }
    out.push(...chunk);
  }
  return der(0x06, Buffer.from(out));
}

/** A BIT STRING with no unused bits. */
export const derBits = (b: Uint8Array) => der(0x03, Buffer.from([0]), b);

/** UTCTime (years 1950–2049) or GeneralizedTime, as X.509 requires. */
export function derTime(d: Date): Uint8Array {
  const iso = d.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z';
  const year = d.getUTCFullYear();
  return year >= 1950 && year < 2050 ? der(0x17, Buffer.from(iso.slice(2))) : der(0x18, Buffer.from(iso));
}
