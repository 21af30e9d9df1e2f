/** `GET /healthz`: the server answers, and so does its database (`SELECT 1` within a short limit). */
import { ApiError, ErrorCodes } from '@opencvm/core';
import type { Db } from '../db/index.ts';
import { ping } from '../store/health.ts';
import { withTimeout } from './metrics.ts';

/** How long the check waits for the database. */
export const HEALTH_TIMEOUT_MS = 2000;

export class HealthService {
  constructor(
    private readonly db: Db,
    private readonly timeoutMs = HEALTH_TIMEOUT_MS,
  ) {}

  /**
   * Resolves when the database answers `SELECT 1` in time; otherwise a 503 `ERR-00-503` for an operator (what
   * the driver said goes to `onError`, the server log: it may name hosts and ports the public need not see).
   */
  async check(onError?: (err: unknown) => void): Promise<{ status: 'ok' }> {
    try {
      await withTimeout(ping(this.db), this.timeoutMs, 'the database');
      return { status: 'ok' };
    } catch (err) {
      onError?.(err);
      throw new ApiError(503, ErrorCodes.DATABASE_UNAVAILABLE,
        `The database did not answer the health check within ${this.timeoutMs / 1000} s: check that PostgreSQL is running and reachable (DATABASE_URL, or the embedded one in the data directory); the server log has the driver's error under this request's id.`,
        { suggestions: ['Requests that read or change state fail until the database answers again; the server needs no restart once it does.'] });
    }
  }
}
