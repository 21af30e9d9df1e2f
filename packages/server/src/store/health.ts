/** The database's health: whether it answers at all (`GET /healthz`). */
import type { Queryable } from '../db/index.ts';

/** `SELECT 1`: resolves when the database answers, throws what the driver throws when it does not. */
export async function ping(q: Queryable): Promise<void> {
  await q.query('SELECT 1');
}
