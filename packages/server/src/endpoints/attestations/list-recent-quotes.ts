import { listRecentQuotes } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

/** Quotes verified here, the most recently verified first. */
export default route(listRecentQuotes, async ({ services, query }) => services.attestations.recent(query.skip, query.limit));
