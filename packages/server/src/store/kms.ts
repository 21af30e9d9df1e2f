/** The KMS instances apps take their keys from: the `kms_instances` table. */
import type { KmsRecord } from '@opencvm/core';
import type { Queryable } from '../db/index.ts';

/** A `kms_instances` row: core's `KmsRecord` (what `KmsInfo` is built from) and when it was registered. */
export interface KmsRow extends KmsRecord {
  created_at: Date;
}

/** Insert or refresh a KMS without a chain (the built-in one): its URL and version follow the server's. */
export async function upsertOffChainKms(q: Queryable, k: Pick<KmsRecord, 'id' | 'slug' | 'kms_type' | 'url' | 'version'>): Promise<void> {
  await q.query(
    `INSERT INTO kms_instances (id, slug, kms_type, url, version, chain_id, kms_contract_address, gateway_app_id)
     VALUES ($1, $2, $3, $4, $5, NULL, NULL, NULL)
     ON CONFLICT (id) DO UPDATE SET url = EXCLUDED.url, version = EXCLUDED.version`,
    [k.id, k.slug, k.kms_type, k.url, k.version],
  );
}

/**
 * Insert or refresh the KMS of an on-chain type (`ethereum`, `base`): one per type, id `kms-<type>`, its chain
 * and KMS contract as the server is configured now (apps keep their own app contracts).
 */
export async function upsertOnChainKms(q: Queryable, k: Pick<KmsRecord, 'id' | 'slug' | 'kms_type' | 'url' | 'version' | 'chain_id' | 'kms_contract_address'>): Promise<void> {
  await q.query(
    `INSERT INTO kms_instances (id, slug, kms_type, url, version, chain_id, kms_contract_address, gateway_app_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)
     ON CONFLICT (id) DO UPDATE SET url = EXCLUDED.url, version = EXCLUDED.version, chain_id = EXCLUDED.chain_id,
                                    kms_contract_address = EXCLUDED.kms_contract_address`,
    [k.id, k.slug, k.kms_type, k.url, k.version, k.chain_id, k.kms_contract_address],
  );
}

/** Record the gateway app id an on-chain KMS's contract names (`gatewayAppId()`; null when it names none). */
export async function setKmsGatewayAppId(q: Queryable, id: string, gatewayAppId: string | null): Promise<void> {
  await q.query('UPDATE kms_instances SET gateway_app_id = $2 WHERE id = $1 AND gateway_app_id IS DISTINCT FROM $2', [id, gatewayAppId]);
}

export async function findKms(q: Queryable, id: string): Promise<KmsRow | null> {
  const [k] = await q.query<KmsRow>('SELECT * FROM kms_instances WHERE id = $1', [id]);
  return k ?? null;
}

/**
 * The KMS instances of the types offered (`phala` and the configured chains': a chain no longer configured keeps
 * its row for its apps, but is not offered), oldest first; `onchain` keeps only those with (true) or without
 * (false) a chain.
 */
export function listKms(q: Queryable, offered: string[], onchain?: boolean): Promise<KmsRow[]> {
  return q.query<KmsRow>(
    `SELECT * FROM kms_instances WHERE kms_type = ANY($1::text[]) AND ($2::boolean IS NULL OR (chain_id IS NOT NULL) = $2)
      ORDER BY created_at, id`,
    [offered, onchain ?? null],
  );
}

/** A KMS by id, slug or type (`phala`, `ethereum`, `base`); an id match wins, then the oldest. */
export async function findKmsByRef(q: Queryable, ref: string): Promise<KmsRow | null> {
  const [k] = await q.query<KmsRow>(
    `SELECT * FROM kms_instances WHERE id = $1 OR slug = $1 OR kms_type = lower($1) ORDER BY (id = $1) DESC, created_at LIMIT 1`,
    [ref],
  );
  return k ?? null;
}

/** A KMS by id or slug. */
export async function findKmsByIdOrSlug(q: Queryable, idOrSlug: string): Promise<KmsRow | null> {
  const [k] = await q.query<KmsRow>('SELECT * FROM kms_instances WHERE id = $1 OR slug = $1', [idOrSlug]);
  return k ?? null;
}

/** The oldest KMS of a type. */
export async function firstKmsOfType(q: Queryable, kmsType: string): Promise<KmsRow | null> {
  const [k] = await q.query<KmsRow>('SELECT * FROM kms_instances WHERE kms_type = $1 ORDER BY created_at LIMIT 1', [kmsType]);
  return k ?? null;
}
