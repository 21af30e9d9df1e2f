import { getAppEvents } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';
import { appEvents } from '../../services/events.ts';

export default route(getAppEvents, async ({ services, principal, app, query }) => appEvents(services.db, principal.workspaceId, app.app_id, query));
