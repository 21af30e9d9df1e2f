/**
 * Answers that stay open (an SSE watch, a followed log): each registers how to end it, and the server ends
 * them all when it closes, so that `close()` is not held up by a stream that would never end by itself.
 */
import type { FastifyInstance } from 'fastify';

const open = new WeakMap<FastifyInstance, Set<() => void>>();

/** Track a stream of `app`; the returned function forgets it (call it when the stream ends). */
export function trackStream(app: FastifyInstance, end: () => void): () => void {
  let set = open.get(app);
  if (!set) open.set(app, (set = new Set()));
  set.add(end);
  return () => set.delete(end);
}

/** End every open stream of `app` (its `preClose` hook). */
export function endStreams(app: FastifyInstance): void {
  for (const end of [...(open.get(app) ?? [])]) end();
}
