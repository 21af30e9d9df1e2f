import { getMetrics } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

/** The Prometheus exposition text; with OPENCVM_METRICS_TOKEN set, only for a caller that sends it. */
export default route(getMetrics, async ({ req, reply, services }) => {
  services.metrics.authorize(req.headers.authorization);
  reply.type(services.metrics.contentType).header('cache-control', 'no-store');
  return services.metrics.render();
});
