import { getKmsList } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

/** The KMS nodes; from X-Phala-Version 2026-06-23 the KMS contracts (Phala's contract-centric KMS API). */
export default route(getKmsList, async ({ services, query: q, version }) => {
  const page = { page: q.page, pageSize: q.page_size };
  if (version >= '2026-06-23') return services.catalog.kmsContracts(q.is_onchain, page, services.kms.k256Pubkey);
  return services.catalog.kmsList(q.is_onchain, page);
});
