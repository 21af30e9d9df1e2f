/**
 * Compose hash, as dstack computes it (dstack-util `measure_app_info`, the VMM's `GetComposeHash`).
 *
 * The system hashes the exact `app-compose.json` bytes that reach the VM; nothing normalises them.
 * `canonicalJson` reproduces the dstack JS SDK convention (`getComposeHash`) for producing those bytes:
 * store its output, hash exactly it, send exactly it.
 */
import { createHash } from 'node:crypto';

/** True for `{}`-style objects only (the SDK checks `constructor === Object`). */
function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && (value as object).constructor === Object;
}

/** Recursively rebuilds plain objects with their keys in `Object.keys().sort()` order. */
function sortKeysDeep(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeysDeep);
  if (isPlainObject(value)) {
    const sorted: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) sorted[key] = sortKeysDeep(value[key]);
    return sorted;
  }
  return value;
}

/** JSON.stringify replacer: NaN and ±Infinity become `null` (as the SDK does). */
function nonFiniteToNull(_key: string, value: unknown): unknown {
  return typeof value === 'number' && !Number.isFinite(value) ? null : value;
}

/**
 * The dstack JS SDK "deterministic JSON": keys sorted recursively on plain objects, array order kept,
 * compact `JSON.stringify`, NaN/±Infinity → null, `undefined` properties dropped, non-ASCII written as-is.
 */
export function canonicalJson(value: unknown): string {
  const json: string | undefined = JSON.stringify(sortKeysDeep(value), nonFiniteToNull);
  if (json === undefined) {
    throw new Error(`canonicalJson: value of type ${typeof value} has no JSON representation`);
  }
  return json;
}

/** SHA-256 as lowercase hex (strings are hashed as UTF-8). */
export function sha256Hex(data: string | Uint8Array): string {
  const hash = createHash('sha256');
  if (typeof data === 'string') hash.update(data, 'utf8');
  else hash.update(data);
  return hash.digest('hex');
}

/** Compose hash = SHA-256 hex of the exact UTF-8 bytes of the `app-compose.json` string. */
export function composeHashOf(appComposeJson: string): string {
  return sha256Hex(appComposeJson);
}

/** Default app_id (VMM `app_id_of`): the first 20 bytes (40 hex chars) of the compose hash. */
export function defaultAppIdOf(composeHash: string): string {
  const body = composeHash.startsWith('0x') ? composeHash.slice(2) : composeHash;
  if (!/^[0-9a-fA-F]{40,}$/.test(body)) {
    throw new Error('defaultAppIdOf: expected a hex compose hash of at least 40 characters');
  }
  return body.slice(0, 40).toLowerCase();
}
