import { revealWebhookSecret } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

/** The webhook's signing secret (ADMIN role). */
export default route(revealWebhookSecret, async ({ principal, services, params }) => services.webhooks.reveal(principal, params.webhook_id));
