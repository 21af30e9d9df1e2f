import { listWebhooks } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

/** The workspace's webhooks, without their secrets. */
export default route(listWebhooks, async ({ principal, services }) => services.webhooks.list(principal));
