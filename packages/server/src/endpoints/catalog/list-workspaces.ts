import { listWorkspaces } from '@opencvm/contract';
import { workspaceShape } from '@opencvm/core';
import { route } from '../../http/endpoint.ts';

export default route(listWorkspaces, async ({ services, principal: p, query: q }) => {
  // one more than asked tells whether another page follows
  const { items, total } = await services.reads.workspaces(p, q.cursor === undefined ? 0 : Number(q.cursor), q.limit + 1);
  const more = items.length > q.limit;
  const shown = items.slice(0, q.limit);
  return {
    data: shown.map((w) => workspaceShape(w, p.workspaceId)),
    pagination: { has_more: more, next_cursor: more ? String(shown[shown.length - 1].id) : null, total },
  };
});
