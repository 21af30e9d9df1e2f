import { listWebhookDeliveries } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

/** The webhook's deliveries, newest first, with their attempts. */
export default route(listWebhookDeliveries, async ({ principal, services, params, query }) =>
  services.webhooks.deliveries(principal, params.webhook_id, query.limit, query.offset));
