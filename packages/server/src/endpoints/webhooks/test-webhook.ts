import { testWebhook } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

/** Queue a `webhook.test` event's delivery to this webhook. */
export default route(testWebhook, async ({ principal, services, params }) => services.webhooks.test(principal, params.webhook_id));
