/** Catalogue reads: instance types, OS images, KMS instances. */
import { DEFAULT_INSTANCE_TYPES, ErrorCodes, kmsInfo, notFound, type KmsRecord } from '@opencvm/core';
import type { Db } from '../db/index.ts';

export interface Page {
  page: number;
  pageSize: number;
}

export const pageOf = <T>(all: T[], { page, pageSize }: Page) => ({
  items: all.slice((page - 1) * pageSize, page * pageSize),
  total: all.length,
  page,
  page_size: pageSize,
  pages: Math.max(1, Math.ceil(all.length / pageSize)),
});

export class CatalogService {
  constructor(private readonly db: Db) {}

  instanceTypeFamilies() {
    const families = [...new Set(DEFAULT_INSTANCE_TYPES.map((t) => t.family))];
    return {
      result: families.map((name) => {
        const items = DEFAULT_INSTANCE_TYPES.filter((t) => t.family === name);
        return { name, items, total: items.length };
      }),
    };
  }

  instanceTypeFamily(family: string) {
    const items = DEFAULT_INSTANCE_TYPES.filter((t) => t.family === family);
    if (!items.length) {
      const names = [...new Set(DEFAULT_INSTANCE_TYPES.map((t) => t.family))].join(', ');
      throw notFound(ErrorCodes.INSTANCE_TYPE_NOT_FOUND, `Instance type family "${family}" does not exist: use one of ${names}.`);
    }
    return { items, total: items.length, family };
  }

  /** OS images any node has, once per name. */
  async osImages(isDev: boolean | undefined, page: Page) {
    const rows = await this.db.query<{ name: string; version: string; os_image_hash: string | null; is_dev: boolean; requires_gpu: boolean }>(
      `SELECT DISTINCT ON (name) name, version, os_image_hash, is_dev, requires_gpu FROM node_images
        WHERE ($1::boolean IS NULL OR is_dev = $1) ORDER BY name`,
      [isDev ?? null],
    );
    return pageOf(
      rows.map((r) => ({ name: r.name, slug: r.name, version: r.version, os_image_hash: r.os_image_hash, is_dev: r.is_dev, requires_gpu: r.requires_gpu })),
      page,
    );
  }

  async kmsList(onchain: boolean | undefined, page: Page) {
    const rows = await this.db.query<KmsRecord>(
      `SELECT * FROM kms_instances WHERE ($1::boolean IS NULL OR (chain_id IS NOT NULL) = $1) ORDER BY created_at, id`,
      [onchain ?? null],
    );
    return pageOf(rows.map(kmsInfo), page);
  }

  /** A KMS by id, slug or type (`phala`, `ethereum`, `base`). */
  async kms(ref: string): Promise<KmsRecord> {
    const rows = await this.db.query<KmsRecord>(
      `SELECT * FROM kms_instances WHERE id = $1 OR slug = $1 OR kms_type = lower($1) ORDER BY (id = $1) DESC, created_at LIMIT 1`,
      [ref],
    );
    if (!rows.length) throw notFound(ErrorCodes.KMS_NOT_FOUND, `KMS "${ref}" does not exist: list them with GET /kms.`);
    return rows[0];
  }
}
