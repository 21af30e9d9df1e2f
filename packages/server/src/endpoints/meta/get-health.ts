import { getHealth } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

/** 200 while the database answers; 503 in the envelope when it does not (the driver's error goes to the log). */
export default route(getHealth, async ({ req, services }) =>
  services.health.check((err) => req.log.warn({ err }, 'health check: the database did not answer')));
