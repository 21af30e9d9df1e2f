import { listKmsContractNodes } from '@opencvm/contract';
import { kmsContractNode } from '@opencvm/core';
import { route } from '../../http/endpoint.ts';

/** The nodes of a KMS contract: here its one KMS. */
export default route(listKmsContractNodes, async ({ services, params }) => {
  const kms = await services.catalog.kms(params.kms);
  return { items: [kmsContractNode(kms)], total: 1 };
});
