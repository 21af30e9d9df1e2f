import { rotateWebhookSecret } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

/** A new signing secret; the old one signs too for the grace period (ADMIN role). */
export default route(rotateWebhookSecret, async ({ principal, services, params }) => services.webhooks.rotate(principal, params.webhook_id));
