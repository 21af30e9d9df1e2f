import { resendWebhookDelivery } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

/** Queue the event again for this webhook (the same `webhook-id`). */
export default route(resendWebhookDelivery, async ({ principal, services, params }) =>
  services.webhooks.resend(principal, params.webhook_id, params.event_id));
