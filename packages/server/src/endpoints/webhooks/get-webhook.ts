import { getWebhook } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

/** One webhook of the workspace, without its secret. */
export default route(getWebhook, async ({ principal, services, params }) => services.webhooks.get(principal, params.webhook_id));
