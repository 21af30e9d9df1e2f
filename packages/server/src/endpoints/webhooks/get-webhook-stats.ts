import { getWebhookStats } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

/** The webhook's delivery totals, success rate and durations. */
export default route(getWebhookStats, async ({ principal, services, params }) => services.webhooks.stats(principal, params.webhook_id));
