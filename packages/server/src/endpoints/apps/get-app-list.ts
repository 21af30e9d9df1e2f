import { getAppList } from '@opencvm/contract';
import { appShape } from '@opencvm/core';
import { route } from '../../http/endpoint.ts';
import { pageCount } from '../../services/reads.ts';

export default route(getAppList, async ({ services, principal, query, version }) => {
  const { page, page_size, ...filter } = query;
  const { apps, total } = await services.reads.apps(principal, filter, page, page_size);
  const pageOf = <T>(dstack_apps: T[]) => ({ dstack_apps, page, page_size, total, total_pages: pageCount(total, page_size) });
  return version === '2025-10-28'
    ? pageOf(apps.map((a) => appShape(a.app, a.cvms, version)))
    : pageOf(apps.map((a) => appShape(a.app, a.cvms, version)));
});
