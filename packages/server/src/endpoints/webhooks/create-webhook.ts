import { createWebhook } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

/** A new webhook of the workspace (its URL checked); its secret is in this answer. */
export default route(createWebhook, async ({ principal, services, body }) => services.webhooks.create(principal, body));
