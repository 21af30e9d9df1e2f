import { adminListEvents } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';
import { operatorEvents } from '../../services/events.ts';

/** The operator's events (hosts), filtered; after an event id, the ones written since, oldest first. */
export default route(adminListEvents, async ({ services, query }) => operatorEvents(services.db, query));
