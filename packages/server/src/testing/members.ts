/** Test support for the member tests: what no API call can do (make an invitation's expiry pass now). */
import type { Db } from '../db/index.ts';

/** Move the invitation's expiry into the past, as if its days had gone by. */
export async function expireInvitation(db: Db, id: number): Promise<void> {
  await db.query(`UPDATE invitations SET expires_at = now() - interval '1 second' WHERE id = $1`, [id]);
}

/** The invitation's stored row as the tests check it: whether it is used, cancelled, and how many accepted it. */
export async function invitationState(db: Db, id: number): Promise<{ accepted: boolean; cancelled: boolean; accept_count: number; token_hash: string }> {
  const [row] = await db.query<{ accepted: boolean; cancelled: boolean; accept_count: number; token_hash: string }>(
    'SELECT accepted_at IS NOT NULL AS accepted, cancelled_at IS NOT NULL AS cancelled, accept_count, token_hash FROM invitations WHERE id = $1',
    [id],
  );
  return row;
}
