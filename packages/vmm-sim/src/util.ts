/** Small helpers shared by the simulator modules (no dstack semantics here). */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
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

/** Kept-alive connections for the guests' KMS requests (a boot is one request; many boot at once). */
const agents = { http: new HttpAgent({ keepAlive: true }), https: new HttpsAgent({ keepAlive: true }) };

/**
 * POSTs a body and reads the whole answer as text. Rejects with the transport's error (connection refused,
 * reset, `timeoutMs` passed) or an AbortError once `signal` aborts; any HTTP status resolves.
 */
export function postText(
  url: string,
  headers: Record<string, string>,
  body: string,
  signal: AbortSignal,
  timeoutMs: number,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const secure = target.protocol === 'https:';
    const req = (secure ? httpsRequest : httpRequest)(
      target,
      {
        method: 'POST',
        agent: secure ? agents.https : agents.http,
        headers: { ...headers, 'Content-Length': Buffer.byteLength(body) },
        signal,
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs / 1000} s`)));
    req.on('error', reject);
    req.end(body);
  });
}
