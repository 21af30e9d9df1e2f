/**
 * The identifier forms the official clients put in `/cvms/{id}` paths (`@phala/cloud`'s `CvmIdSchema`),
 * and the one classification the server resolves them with.
 */

export type CvmRef =
  | { kind: 'id'; value: number }
  | { kind: 'uuid'; value: string }
  /** An app id, or an instance id: the SDK sends any bare 40-hex value, instance ids included, as `app_<hex>`. */
  | { kind: 'app_id'; value: string }
  | { kind: 'instance_id'; value: string }
  | { kind: 'name'; value: string };

const UUID_ANY = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
const HEX40 = /^[0-9a-f]{40}$/i;

/** Dashed, lowercase form of a 32-hex or dashed UUID. */
export function normalizeUuid(value: string): string {
  const hex = value.replace(/-/g, '').toLowerCase();
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Lowercase 40-hex app id from `app_<hex>`, `0x<hex>` or bare hex; null if it is not one. */
export function normalizeAppId(value: string): string | null {
  const bare = value.replace(/^(app_|0x)/i, '');
  return HEX40.test(bare) ? bare.toLowerCase() : null;
}

/**
 * Classify a path identifier:
 * digits → numeric id; a UUID (with or without dashes) → vm_uuid; `app_<40hex>`, `0x<40hex>` or bare
 * 40 hex → app_id (or instance id); `instance_<40hex>` → instance_id; anything else → name.
 */
export function parseCvmRef(raw: string): CvmRef {
  const value = raw.trim();
  if (/^\d{1,15}$/.test(value)) return { kind: 'id', value: Number(value) };
  if (UUID_ANY.test(value)) return { kind: 'uuid', value: normalizeUuid(value) };
  const appId = normalizeAppId(value);
  if (appId) return { kind: 'app_id', value: appId };
  const instance = /^instance_/i.test(value) ? value.slice('instance_'.length) : '';
  if (HEX40.test(instance)) return { kind: 'instance_id', value: instance.toLowerCase() };
  return { kind: 'name', value };
}
