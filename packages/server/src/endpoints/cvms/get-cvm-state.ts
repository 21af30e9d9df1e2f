/**
 * `GET /cvms/{id}/state`: the CVM's state as JSON, or with `Accept: text/event-stream` the stream the official
 * SDK's `watchCvmState` reads: `event: state` at once and on every change, `event: complete` when the status
 * is `target` (without a target: once no operation is in flight and the status is stable), `event: timeout`
 * when `timeout` seconds pass. A CVM that is deleted, or that fails (exited/error with no operation left) before
 * reaching the target, gets `event: error` and the stream ends: the SDK then returns the last state.
 * The store is polled every 250 ms; `interval` is accepted (5..30) but changes are sent as they are seen.
 */
import { getCvmState } from '@opencvm/contract';
import { cvmStateShape, type CvmStateRecord, type CvmView } from '@opencvm/core';
import { route, STREAMED, type Input } from '../../http/endpoint.ts';
import { trackStream } from '../../http/streams.ts';
import type { ReadService } from '../../services/reads.ts';

/** how often a watch reads the CVM's state from the store */
const WATCH_POLL_MS = 250;
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
  const reads: ReadService = services.reads;
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-cache, no-transform',
    Connection: 'keep-alive',
    'X-Accel-Buffering': 'no',
  });
  const deadline = Date.now() + q.timeout * 1000;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  let lastKey = '';
  let lastWrite = Date.now();
  const end = () => {
    if (!closed) res.end();
    stop();
  };
  const untrack = trackStream(req.server, end);
  function stop() {
    closed = true;
    clearTimeout(timer);
    untrack();
  }
  res.on('close', stop);
  const send = (event: string, data: unknown) => {
    if (closed) return;
    res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    lastWrite = Date.now();
  };

  const tick = async () => {
    if (closed) return;
    let r: Awaited<ReturnType<ReadService['stateById']>>;
    try {
      r = await reads.stateById(principal.workspaceId, cvm.id);
    } catch (e) {
      req.log.warn({ err: e }, 'state watch: reading the CVM failed');
      send('error', { error: 'reading the CVM state failed; retry' });
      return end();
    }
    if (closed) return;
    const now = Date.now();
    const status = r ? r.status : 'deleted';
    if (r) {
      const state = cvmStateShape(r, now);
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
    if (now >= deadline) {
      send('timeout', { status, timeout: q.timeout });
      return end();
    }
    if (now - lastWrite >= WATCH_KEEPALIVE_MS) {
      res.write(': keep-alive\n\n');
      lastWrite = now;
    }
    timer = setTimeout(tick, Math.min(WATCH_POLL_MS, Math.max(0, deadline - now)));
  };
  void tick();
}
