/** `X-Prepare-Only: true`: keep the change (a replica, a PATCH) under a commit token instead of making it. */
export function prepareOnlyOf(headers: { 'x-prepare-only'?: string }): boolean {
  return String(headers['x-prepare-only'] ?? '').trim().toLowerCase() === 'true';
}
