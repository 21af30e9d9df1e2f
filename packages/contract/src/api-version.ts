/** `X-Phala-Version` values the official clients send (`@phala/cloud`'s `SUPPORTED_API_VERSIONS`); the default is the newest. */
export const API_VERSIONS = ['2025-10-28', '2026-01-21'] as const;
export type ApiVersion = (typeof API_VERSIONS)[number];
export const DEFAULT_API_VERSION = '2026-01-21' as const satisfies ApiVersion;
export type DefaultApiVersion = typeof DEFAULT_API_VERSION;

/** Read the header the way the SDK resolves it: anything unknown means the default. */
export function apiVersionOf(header: string | string[] | undefined): ApiVersion {
  const value = Array.isArray(header) ? header[0] : header;
  return value === '2025-10-28' ? '2025-10-28' : DEFAULT_API_VERSION;
}
