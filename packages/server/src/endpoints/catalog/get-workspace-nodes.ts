import { getWorkspaceNodes } from '@opencvm/contract';
import { nodeRef } from '@opencvm/core';
import { route } from '../../http/endpoint.ts';
import { pageCount } from '../../services/reads.ts';

export default route(getWorkspaceNodes, async ({ services, principal, params, query: q }) => {
  await services.reads.workspace(principal, params.slug);
  const all = (await services.reads.nodeUsage(false)).map((n) => nodeRef(n.node));
  const items = all.slice((q.page - 1) * q.page_size, q.page * q.page_size);
  return { items, total: all.length, page: q.page, page_size: q.page_size, pages: pageCount(all.length, q.page_size) };
});
