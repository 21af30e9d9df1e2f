/**
 * pRPC JSON request decoding, as dstack's services (the `prpc` crate's JSON mode) do it.
 *
 * Every field is optional on input (`#[serde(default)]`): a missing string is "", a missing number
 * 0, a missing list []. `bytes` travel as lowercase hex, a leading `0x` is accepted. A GET request
 * carries its message in the query string (serde_qs style: `ids[0]=a&ids[1]=b`, `gpus[attach_mode]=x`),
 * so every accessor also accepts the string form of a number or a boolean.
 */

/** An error whose message goes back to the caller as HTTP 400 `{"error": message}`. */
export class RpcError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RpcError';
  }
}

type Json = unknown;

const isPlainObject = (v: Json): v is Record<string, Json> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Typed, lenient access to one decoded request message. */
export class Fields {
  readonly raw: Record<string, Json>;

  constructor(raw: Json, private readonly path = '') {
    if (raw === undefined || raw === null) raw = {};
    if (!isPlainObject(raw)) throw new RpcError(`invalid request${this.at()}: expected a JSON object`);
    this.raw = raw;
  }

  private at(name?: string): string {
    const p = name === undefined ? this.path : this.path ? `${this.path}.${name}` : name;
    return p ? ` (field \`${p}\`)` : '';
  }

  private bad(name: string, expected: string): never {
    throw new RpcError(`invalid request${this.at(name)}: expected ${expected}`);
  }

  /** True when the field is present and not null. */
  has(name: string): boolean {
    return this.raw[name] !== undefined && this.raw[name] !== null;
  }

  str(name: string): string {
    const v = this.raw[name];
    if (v === undefined || v === null) return '';
    if (typeof v !== 'string') this.bad(name, 'a string');
    return v;
  }

  optStr(name: string): string | undefined {
    return this.has(name) ? this.str(name) : undefined;
  }

  u32(name: string): number {
    const v = this.raw[name];
    if (v === undefined || v === null || v === '') return 0;
    const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 0xffffffff) this.bad(name, 'a u32');
    return n;
  }

  optU32(name: string): number | undefined {
    return this.has(name) ? this.u32(name) : undefined;
  }

  bool(name: string): boolean {
    const v = this.raw[name];
    if (v === undefined || v === null || v === '') return false;
    if (typeof v === 'boolean') return v;
    if (v === 'true' || v === '1') return true;
    if (v === 'false' || v === '0') return false;
    return this.bad(name, 'a boolean');
  }

  optBool(name: string): boolean | undefined {
    return this.has(name) ? this.bool(name) : undefined;
  }

  /** A `bytes` field: normalised to lowercase hex without `0x` ("" when absent). */
  bytes(name: string): string {
    const s = this.str(name);
    const body = s.startsWith('0x') || s.startsWith('0X') ? s.slice(2) : s;
    if (body.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(body)) this.bad(name, 'hex-encoded bytes');
    return body.toLowerCase();
  }

  private array(name: string): Json[] {
    const v = this.raw[name];
    if (v === undefined || v === null) return [];
    if (Array.isArray(v)) return v;
    if (typeof v === 'string') return [v]; // `?ids=x` from a query string
    return this.bad(name, 'a list');
  }

  strList(name: string): string[] {
    return this.array(name).map((item, i) => {
      if (typeof item !== 'string') this.bad(`${name}[${i}]`, 'a string');
      return item;
    });
  }

  obj(name: string): Fields | undefined {
    return this.has(name) ? new Fields(this.raw[name], this.path ? `${this.path}.${name}` : name) : undefined;
  }

  list(name: string): Fields[] {
    return this.array(name).map((item, i) => new Fields(item, `${this.path ? `${this.path}.` : ''}${name}[${i}]`));
  }
}

/**
 * Decodes a query string the way serde_qs does (enough for pRPC GETs): `a=1`, `a[b]=2`,
 * `a[0]=x&a[1]=y`, `a[]=x`. Objects whose keys are all indices become arrays. `skip` keys are dropped.
 */
export function parseQueryMessage(params: URLSearchParams, skip: string[] = ['json', 'token']): Record<string, Json> {
  const root: Record<string, Json> = {};
  for (const [fullKey, value] of params) {
    const m = /^([^[\]]+)((?:\[[^[\]]*\])*)$/.exec(fullKey);
    if (!m) continue;
    const head = m[1]!;
    if (skip.includes(head)) continue;
    const path = [head, ...[...m[2]!.matchAll(/\[([^[\]]*)\]/g)].map((x) => x[1]!)];
    let node: Record<string, Json> = root;
    for (let i = 0; i < path.length; i++) {
      let key = path[i]!;
      const last = i === path.length - 1;
      if (key === '') key = String(Object.keys(node).length); // `a[]=x` appends
      if (last) {
        node[key] = value;
      } else {
        if (!isPlainObject(node[key])) node[key] = {};
        node = node[key] as Record<string, Json>;
      }
    }
  }
  return arrayify(root) as Record<string, Json>;
}

function arrayify(v: Json): Json {
  if (!isPlainObject(v)) return v;
  const keys = Object.keys(v);
  const out: Record<string, Json> = {};
  for (const k of keys) out[k] = arrayify(v[k]);
  if (keys.length > 0 && keys.every((k) => /^\d+$/.test(k))) {
    return keys.sort((a, b) => Number(a) - Number(b)).map((k) => out[k]);
  }
  return out;
}

/** Encodes a protobuf `prpc.PrpcError { string message = 1; }` (the non-JSON error body). */
export function encodePrpcError(message: string): Buffer {
  const msg = Buffer.from(message, 'utf8');
  const len: number[] = [];
  let n = msg.length;
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n) byte |= 0x80;
    len.push(byte);
  } while (n);
  return Buffer.concat([Buffer.from([0x0a, ...len]), msg]);
}
