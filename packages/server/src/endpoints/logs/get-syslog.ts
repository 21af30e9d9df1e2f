import { getSyslog } from '@opencvm/contract';
import { route, STREAMED } from '../../http/endpoint.ts';
import { abortOnClose, flag, lineCount, openHostLog, relay, type Channel } from '../../http/log-relay.ts';

/** A VM channel as the host keeps it (dstack-vmm `GET /logs`), passed through as text. */
export default route(getSyslog, async ({ req, reply, services, query: q }) => {
  const target = await services.logUrls.authorize(q, 'syslog');
  const ch: Channel = q.ch || 'serial';
  const signal = abortOnClose(req, reply);
  const res = await openHostLog(services, target, { ch, lines: lineCount(q), follow: flag(q, 'follow'), ansi: flag(q, 'ansi') }, signal);
  await relay(reply, 'text/plain; charset=utf-8', res.body as unknown as AsyncIterable<Uint8Array>);
  return STREAMED;
});
