/** Small helpers shared by the simulator modules (no dstack semantics here). */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';

/** Lowercase hex SHA-256 of a UTF-8 string or of bytes. */
export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Lowercase hex SHA-384 of bytes. */
export function sha384(data: Uint8Array): Buffer {
  return createHash('sha384').update(data).digest();
}

export function randomHex(bytes: number): string {
  return randomBytes(bytes).toString('hex');
}

export const newUuid = (): string => randomUUID();

/** Resolves after `ms`, or rejects with an AbortError as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return delay(Math.max(0, ms), undefined, signal ? { signal } : undefined);
}

export function isAbortError(err: unknown): boolean {
  return (err as { name?: string } | null)?.name === 'AbortError';
}

/**
 * A duration the way dstack-vmm prints `uptime` (Rust `humantime::format_duration`, truncated to
 * whole seconds): "0s", "42s", "1m 3s", "2h 0m 5s" style without zero units, "3days 4h".
 */
export function formatDuration(ms: number): string {
  let secs = Math.max(0, Math.floor(ms / 1000));
  if (secs === 0) return '0s';
  const days = Math.floor(secs / 86400);
  secs -= days * 86400;
  const hours = Math.floor(secs / 3600);
  secs -= hours * 3600;
  const minutes = Math.floor(secs / 60);
  secs -= minutes * 60;
  const parts: string[] = [];
  if (days) parts.push(`${days}day${days === 1 ? '' : 's'}`);
  if (hours) parts.push(`${hours}h`);
  if (minutes) parts.push(`${minutes}m`);
  if (secs) parts.push(`${secs}s`);
  return parts.join(' ');
}

/** Removes ANSI escape sequences (colours, cursor moves). */
export function stripAnsi(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/\x1b\[[0-9;?]*[ -/]*[@-~]/g, '');
}

export const errorMessage = (err: unknown): string =>
  err instanceof Error ? err.message : typeof err === 'string' ? err : JSON.stringify(err);
