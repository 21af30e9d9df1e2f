/**
 * `X-Phala-Version` values the official clients send: `@phala/cloud`'s `SUPPORTED_API_VERSIONS` (2025-10-28,
 * 2026-01-21) and the Python SDK `phala-cloud`'s (which adds 2026-05-22 and 2026-06-23, its default).
 * A version answers the shape declared for it, else the one of the newest version before it.
 */
export const API_VERSIONS = ['2025-10-28', '2026-01-21', '2026-05-22', '2026-06-23'] as const;
export type ApiVersion = (typeof API_VERSIONS)[number];
export const DEFAULT_API_VERSION = '2026-01-21' as const satisfies ApiVersion;
export type DefaultApiVersion = typeof DEFAULT_API_VERSION;

/** Read the header the way the SDKs resolve it: anything unknown means the default. */
export function apiVersionOf(header: string | string[] | undefined): ApiVersion {
  const value = Array.isArray(header) ? header[0] : header;
  return (API_VERSIONS as readonly string[]).includes(value ?? '') ? (value as ApiVersion) : DEFAULT_API_VERSION;
}

/** From 2026-05-22 on, Phala answers as strings the ids it answered as integers before (a CVM's `id`). */
export const idsAreStrings = (version: ApiVersion): boolean => version >= '2026-05-22';
