import { getKmsInfo } from '@opencvm/contract';
import { kmsContract, kmsInfo } from '@opencvm/core';
import { route } from '../../http/endpoint.ts';

/** A KMS node; from X-Phala-Version 2026-06-23 its KMS contract. */
export default route(getKmsInfo, async ({ services, params, version }) => {
  const kms = await services.catalog.kms(params.kms);
  return version >= '2026-06-23' ? kmsContract(kms, services.kms.k256Pubkey) : kmsInfo(kms);
});
