/** Catalogue reads: instance types, OS images, KMS instances. */
import { DEFAULT_INSTANCE_TYPES, ErrorCodes, kmsContract, kmsInfo, notFound, type KmsRecord } from '@opencvm/core';
import type { Db } from '../db/index.ts';
import type { ChainService } from './chain.ts';
import { findKmsByRef, listKms } from '../store/kms.ts';
import { listOsImages } from '../store/nodes.ts';

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
  constructor(
    private readonly db: Db,
    private readonly chain: ChainService,
  ) {}

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
    const rows = await listOsImages(this.db, isDev);
    return pageOf(
      rows.map((r) => ({ name: r.name, slug: r.name, version: r.version, os_image_hash: r.os_image_hash, is_dev: r.is_dev, requires_gpu: r.requires_gpu })),
      page,
    );
  }

  async kmsList(onchain: boolean | undefined, page: Page) {
    return pageOf((await listKms(this.db, this.chain.offeredKmsTypes(), onchain)).map(kmsInfo), page);
  }

  /** The KMS contracts (X-Phala-Version 2026-06-23): one per KMS offered, with its one node. */
  async kmsContracts(onchain: boolean | undefined, page: Page, k256Pubkey: string) {
    return pageOf((await listKms(this.db, this.chain.offeredKmsTypes(), onchain)).map((k) => kmsContract(k, k256Pubkey)), page);
  }

  /** A KMS by id, slug or type (`phala`, `ethereum`, `base`). */
  async kms(ref: string): Promise<KmsRecord> {
    const kms = await findKmsByRef(this.db, ref);
    if (!kms) throw notFound(ErrorCodes.KMS_NOT_FOUND, `KMS "${ref}" does not exist: list them with GET /kms.`);
    return kms;
  }
}
