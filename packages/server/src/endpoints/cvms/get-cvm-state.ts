/**
 * `GET /cvms/{id}/state`: the CVM's state as JSON, or with `Accept: text/event-stream` the stream the official
 * SDK's `watchCvmState` reads: `event: state` at once and on every change, `event: complete` when the status
 * is `target` (without a target: once no operation is in flight and the status is stable), `event: timeout`
 * when `timeout` seconds pass. A CVM that is deleted, or that fails (exited/error with no operation left) before
 * reaching the target, gets `event: error` and the stream ends: the SDK then returns the last state.
 * No stream polls the store: the server's `StateHub` (services/state-hub.ts) hears of every committed change of
 * the CVM (PostgreSQL LISTEN/NOTIFY, whichever server made it), reads the state once for all its watchers and
 * hands it to this stream, which sends it if it differs from the last one sent. `interval` is accepted (5..30)
 * but changes are sent as they are seen. A comment line (`: keep-alive`) goes out after 15 s without an event.
 */
import { getCvmState } from '@opencvm/contract';
import { cvmStateShape, type CvmStateRecord, type CvmView } from '@opencvm/core';
import { route, STREAMED, type Input } from '../../http/endpoint.ts';
import { trackStream } from '../../http/streams.ts';
import type { WatchedState } from '../../services/state-hub.ts';

/** an SSE comment this often keeps idle proxies from closing the stream */
const WATCH_KEEPALIVE_MS = 15_000;
/** statuses a CVM settles in when something failed: it will not reach another status by itself */
const FAILED = new Set(['exited', 'error']);
/** statuses with nothing in flight (what a watch without `target` waits for) */
const STABLE = new Set(['running', 'stopped', 'exited', 'error', 'deleted']);

export default route(getCvmState, async (input) => {
  const { req, cvm } = input;
  if (!/text\/event-stream/i.test(String(req.headers.accept ?? ''))) return cvmStateShape(stateRecordOf(cvm));
  watch(input);
  return STREAMED;
});

function stateRecordOf(c: CvmView): CvmStateRecord {
  return {
    name: c.name,
    status: c.status,
    vm_uuid: c.vm_uuid,
    instance_id: c.instance_id,
    boot_progress: c.boot_progress,
    boot_error: c.boot_error,
    shutdown_progress: c.shutdown_progress,
    started_at: c.started_at,
    exited_at: c.exited_at,
    op_kind: c.progress?.kind ?? null,
    op_started_at: c.progress?.started_at ?? null,
    op_correlation_id: c.progress?.correlation_id ?? null,
  };
}

function watch({ req, reply, services, principal, cvm, query: q }: Input<typeof getCvmState>): void {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-cache, no-transform',
    Connection: 'keep-alive',
    'X-Accel-Buffering': 'no',
  });
  let closed = false;
  let lastKey = '';
  // what `timeout` reports if no read has come back yet
  let lastStatus = cvm.status;
  let keepAlive: NodeJS.Timeout | undefined;
  const end = () => {
    if (!closed) res.end();
    stop();
  };
  const untrack = trackStream(req.server, end);
  const deadline = setTimeout(() => {
    send('timeout', { status: lastStatus, timeout: q.timeout });
    end();
  }, q.timeout * 1000);
  // the first state comes from a read made after this call, then one after every change of the CVM
  const unwatch = services.stateHub.watch(principal.workspaceId, cvm.id, { onState, onError });
  function stop() {
    closed = true;
    clearTimeout(deadline);
    clearTimeout(keepAlive);
    unwatch();
    untrack();
  }
  res.on('close', stop);
  function armKeepAlive() {
    clearTimeout(keepAlive);
    keepAlive = setTimeout(() => {
      if (closed) return;
      res.write(': keep-alive\n\n');
      armKeepAlive();
    }, WATCH_KEEPALIVE_MS);
  }
  function send(event: string, data: unknown) {
    if (closed) return;
    res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    armKeepAlive();
  }
  armKeepAlive();

  function onError(e: unknown) {
    if (closed) return;
    req.log.warn({ err: e }, 'state watch: reading the CVM failed');
    send('error', { error: 'reading the CVM state failed; retry' });
    end();
  }

  function onState(r: WatchedState | null) {
    if (closed) return;
    const status = r ? r.status : 'deleted';
    lastStatus = status;
    if (r) {
      const state = cvmStateShape(r);
      // uptime ticks every second: a change of anything else is a new state
      const key = JSON.stringify({ ...state, uptime: undefined });
      if (key !== lastKey) {
        lastKey = key;
        send('state', state);
      }
    }
    const settled = !r || !r.op_kind;
    if (q.target ? status === q.target : settled && STABLE.has(status)) {
      send('complete', { status });
      return end();
    }
    if (!r || r.deleted) {
      send('error', { error: `CVM ${cvm.name} was deleted`, status: 'deleted' });
      return end();
    }
    if (settled && FAILED.has(status)) {
      send('error', { error: `CVM ${cvm.name} is ${status}${r.boot_error ? ` (${r.boot_error})` : ''}: it will not become ${q.target} by itself`, status });
      return end();
    }
  }
}
