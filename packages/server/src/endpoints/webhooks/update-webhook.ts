import { updateWebhook } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

/** Change a webhook's URL (checked again), events, name or whether it is enabled. */
export default route(updateWebhook, async ({ principal, services, params, body }) => services.webhooks.update(principal, params.webhook_id, body));
