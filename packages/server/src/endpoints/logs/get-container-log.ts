import { getContainerLog } from '@opencvm/contract';
import { route, STREAMED } from '../../http/endpoint.ts';
import { abortOnClose, CONTAINER_TAIL, flag, lineCount, sendContainerLog } from '../../http/log-relay.ts';

/** One container's output (`since`, `until` and `timestamps` are accepted and ignored: host log lines carry no time). */
export default route(getContainerLog, async ({ req, reply, services, params, query: q }) => {
  const target = await services.logUrls.authorize(q, 'container');
  const name = params.name.replace(/^\//, '');
  const tail = lineCount(q) ?? (q.tail === 'all' || q.lines === 'all' ? Infinity : CONTAINER_TAIL);
  const [follow, ansi, bare, text] = ['follow', 'ansi', 'bare', 'text'].map((k) => flag(q, k));
  const signal = abortOnClose(req, reply);
  try {
    await sendContainerLog(services, reply, target, signal, { name, tail, follow, ansi, bare, text });
  } catch (e) {
    // the client left while the host was being read: nobody to answer
    if (!signal.aborted) throw e;
    if (!reply.sent) reply.hijack();
    reply.raw.destroy();
  }
  return STREAMED;
});
