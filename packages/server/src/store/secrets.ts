/** Small server-wide secrets (the key that signs log URLs, …), created on first use: the `server_secrets` table. */
import type { Queryable } from '../db/index.ts';

/** A `server_secrets` row. */
export interface ServerSecretRow {
  name: string;
  value: string;
  created_at: Date;
}

/** Store `value` under `name` unless a value is stored already (the first writer wins). */
export async function insertSecretIfAbsent(q: Queryable, name: string, value: string): Promise<void> {
  await q.query('INSERT INTO server_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING', [name, value]);
}

export async function readSecret(q: Queryable, name: string): Promise<string | null> {
  const [row] = await q.query<Pick<ServerSecretRow, 'value'>>('SELECT value FROM server_secrets WHERE name = $1', [name]);
  return row?.value ?? null;
}
