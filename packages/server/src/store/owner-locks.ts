/**
 * The advisory locks that say a server process is alive (`worker/owner-lock.ts`): two-key session locks
 * (namespace, owner id). Single-key advisory locks (`pg_advisory_xact_lock(bigint)`) are a separate key space,
 * so they never meet these.
 */
import type { Queryable } from '../db/index.ts';

/** Take the lock of `owner` in `namespace` on this session; false if another session holds it. */
export async function tryOwnerLock(q: Queryable, namespace: number, owner: number): Promise<boolean> {
  const [r] = await q.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1::int, $2::int) AS ok', [namespace, owner]);
  return r.ok;
}

/** Let go of the lock of `owner` in `namespace` held by this session. */
export async function releaseOwnerLock(q: Queryable, namespace: number, owner: number): Promise<void> {
  await q.query('SELECT pg_advisory_unlock($1::int, $2::int)', [namespace, owner]);
}

/** A subquery: the owner ids (bigint) whose lock in `namespace` is held in this database, the live holders. */
export function liveOwners(namespace: number): string {
  if (!Number.isInteger(namespace)) throw new Error(`an owner-lock namespace is an integer, not ${namespace}`);
  return `SELECT l.objid::bigint FROM pg_locks l
   WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 AND l.classid::bigint = ${namespace}
     AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`;
}
