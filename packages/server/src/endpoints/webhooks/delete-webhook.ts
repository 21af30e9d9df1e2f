import { deleteWebhook } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

/** Delete a webhook and its deliveries. */
export default route(deleteWebhook, async ({ principal, services, params }) => services.webhooks.remove(principal, params.webhook_id));
