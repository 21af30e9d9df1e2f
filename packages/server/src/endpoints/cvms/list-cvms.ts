import { listCvms } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';
import { pageCount } from '../../services/reads.ts';

export default route(listCvms, async ({ services, principal, query: q, version }) => {
  const filter = { nodeId: q.node_id ?? q.teepod_id, creatorId: q.user_id === undefined ? undefined : Number(q.user_id) };
  const { items, total } = await services.reads.cvmPage(principal, filter, q.page, q.page_size);
  const pageOf = <T>(list: T[]) => ({ items: list, total, page: q.page, page_size: q.page_size, pages: pageCount(total, q.page_size) });
  return version === '2025-10-28' ? pageOf(await services.reads.listItems(items, version)) : pageOf(await services.reads.listItems(items, version));
});
