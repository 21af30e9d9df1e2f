/**
 * Log URLs outside /api/v1, fetched by the `phala` CLI's log commands with no API key: the URL's token
 * (services/log-urls.ts; it expires) is the authority.
 *
 *   GET /logs/syslog?cvm=<vm_uuid>&exp=<unix s>&token=<t>&ch=serial|stdout|stderr[&tail=N&lines=N][&follow][&ansi]
 *       a VM channel as the host keeps it (dstack-vmm `GET /logs`), passed through as text;
 *   GET /logs/container/<name>?cvm=<vm_uuid>&exp=<unix s>&token=<t>[&tail=N][&follow][&text][&bare][&ansi]
 *       one container's output, in the format of dstack's guest agent `/logs/<container>`: JSON
 *       lines `{"channel","message"}` (message base64, or text with `text`), or the bare lines with `bare`.
 *       The host's stdout/stderr channels carry docker compose's output, each container's lines prefixed
 *       `<service>-<n>  | `; a container's log is its lines of both channels without that prefix.
 *
 * This is the one place a request reaches a host, on purpose: a log is a stream the host produces as the
 * VM runs, which the control plane relays (and, with `follow`, keeps relaying until the client goes away
 * or the host ends it). It is not a read of state — there is nothing here for the store to hold — so the
 * rule "reads come from the store" is not bent: status, containers and figures still come from the store.
 * `since`, `until` and `timestamps` are accepted and ignored (host log lines carry no time).
 */
import { once } from 'node:events';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { ApiError, ErrorCodes } from '@opencvm/core';
import type { Services } from '../http/context.ts';
import type { LogTarget } from '../store/runtime.ts';

type Query = Record<string, string | undefined>;
type Channel = 'serial' | 'stdout' | 'stderr';

/** A bare `?follow` arrives as "" and means yes. */
const flag = (q: Query, k: string) => q[k] !== undefined && q[k] !== 'false' && q[k] !== '0';

/** The guest agent shows the last 1000 lines of a container unless told otherwise. */
const CONTAINER_TAIL = 1000;

function lineCount(q: Query): number | undefined {
  const v = q.lines ?? q.tail;
  if (v === undefined || v === '' || v === 'all') return undefined;
  if (!/^\d+$/.test(v)) throw new ApiError(400, ErrorCodes.INVALID_REQUEST, `tail/lines must be a number of lines or "all", not "${v}".`);
  return Number(v);
}

export function logRoutes(app: FastifyInstance, s: Services): void {
  // a followed log never ends by itself: end them all when the server closes
  const open = new Set<AbortController>();
  app.addHook('preClose', async () => {
    for (const ac of open) ac.abort();
  });
  /** An abort signal that fires when the client's connection closes (it ends the host streams too). */
  const abortOnClose = (reply: FastifyReply): AbortSignal => {
    const ac = new AbortController();
    open.add(ac);
    reply.raw.on('close', () => {
      open.delete(ac);
      ac.abort();
    });
    return ac.signal;
  };

  app.get<{ Querystring: Query }>('/logs/syslog', async (req, reply) => {
    const q = req.query;
    const target = await s.logUrls.authorize(q, 'syslog');
    const ch = (q.ch || 'serial') as Channel;
    if (!['serial', 'stdout', 'stderr'].includes(ch)) {
      throw new ApiError(400, ErrorCodes.INVALID_REQUEST, `ch must be serial, stdout or stderr, not "${ch}".`);
    }
    const signal = abortOnClose(reply);
    const res = await openHostLog(s, target, { ch, lines: lineCount(q), follow: flag(q, 'follow'), ansi: flag(q, 'ansi') }, signal);
    await relay(reply, 'text/plain; charset=utf-8', res.body as unknown as AsyncIterable<Uint8Array>);
  });

  app.get<{ Params: { name: string }; Querystring: Query }>('/logs/container/:name', async (req, reply) => {
    const q = req.query;
    const target = await s.logUrls.authorize(q, 'container');
    const name = req.params.name.replace(/^\//, '');
    const tail = lineCount(q) ?? (q.tail === 'all' || q.lines === 'all' ? Infinity : CONTAINER_TAIL);
    const [follow, ansi, bare, text] = ['follow', 'ansi', 'bare', 'text'].map((k) => flag(q, k));
    const signal = abortOnClose(reply);
    try {
      await sendContainerLog(s, reply, target, signal, { name, tail, follow, ansi, bare, text });
    } catch (e) {
      // the client left while the host was being read: nobody to answer
      if (!signal.aborted) throw e;
      if (!reply.sent) reply.hijack();
      reply.raw.destroy();
    }
  });
}

async function sendContainerLog(
  s: Services,
  reply: FastifyReply,
  target: LogTarget,
  signal: AbortSignal,
  o: { name: string; tail: number; follow: boolean; ansi: boolean; bare: boolean; text: boolean },
): Promise<void> {
  const { tail, follow, bare, text } = o;
  const match = containerLine(o.name, o.ansi);
  const format = (channel: 'stdout' | 'stderr', message: string) => {
    const m = `${message}\n`;
    return bare ? m : `${JSON.stringify({ channel, message: text ? m : Buffer.from(m).toString('base64') })}\n`;
  };
  // following: open the live streams first (they carry only lines written from now on), then read what
  // is there already, so no line is lost in between (one written in that instant may show twice)
  const live = follow
    ? await Promise.all((['stdout', 'stderr'] as const).map((ch) => openHostLog(s, target, { ch, lines: 0, follow: true, ansi: true }, signal)))
    : [];
  const heads = await Promise.all(
    (['stdout', 'stderr'] as const).map(async (ch) => {
      const res = await openHostLog(s, target, { ch, ansi: true }, signal);
      const mine: string[] = [];
      for await (const line of lines(res.body!)) {
        const m = match(line);
        if (m !== null) mine.push(m);
      }
      return { ch, lines: tail === Infinity ? mine : mine.slice(Math.max(0, mine.length - tail)) };
    }),
  );
  async function* body(): AsyncGenerator<string> {
    for (const h of heads) for (const l of h.lines) yield format(h.ch, l);
    if (!follow) return;
    const channels = ['stdout', 'stderr'] as const;
    for await (const { i, value } of merge(live.map((r) => lines(r.body!)))) {
      const m = match(value);
      if (m !== null) yield format(channels[i], m);
    }
  }
  await relay(reply, bare ? 'text/plain; charset=utf-8' : 'application/x-ndjson; charset=utf-8', body());
}

async function openHostLog(
  s: Services,
  target: LogTarget,
  opts: { ch: Channel; lines?: number; follow?: boolean; ansi?: boolean },
  signal: AbortSignal,
): Promise<Response> {
  if (!target.host_vm_id) {
    throw new ApiError(409, ErrorCodes.CVM_INVALID_STATE, `CVM ${target.name} has no VM on its host yet (status ${target.status}): there are no logs to show.`);
  }
  let res: Response;
  try {
    res = await (await s.nodes.client(target.node_id)).logs(target.host_vm_id, opts, signal);
  } catch (e) {
    throw new ApiError(502, ErrorCodes.TEEPOD_NOT_ACCESSIBLE, `The host of CVM ${target.name} cannot be reached for its logs: ${(e as Error).message}`);
  }
  if (res.ok && res.body) return res;
  const detail = (await res.text().catch(() => '')).trim();
  if (res.status === 404) throw new ApiError(404, ErrorCodes.CVM_NOT_FOUND, `The host no longer has the VM of CVM ${target.name}.`);
  throw new ApiError(502, ErrorCodes.TEEPOD_NOT_ACCESSIBLE, `The host of CVM ${target.name} answered HTTP ${res.status} for its logs${detail ? `: ${detail}` : ''}.`);
}

/**
 * Send a stream as it comes (headers at once, so a following client sees the stream start), with
 * backpressure; it ends cleanly when the source ends, fails (the host cut it) or is aborted.
 */
async function relay(reply: FastifyReply, contentType: string, source: AsyncIterable<string | Uint8Array>): Promise<void> {
  reply.hijack();
  const out = reply.raw;
  out.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-cache', 'x-accel-buffering': 'no' });
  out.flushHeaders();
  const closed = once(out, 'close').catch(() => {});
  try {
    for await (const chunk of source) {
      if (out.destroyed) break;
      if (!out.write(chunk)) await Promise.race([once(out, 'drain'), closed]);
    }
  } catch {
    // the host ended the stream abruptly, or the client went away and the host stream was aborted
  }
  if (!out.destroyed) out.end();
}

const ANSI = /\x1b\[[0-?]*[ -/]*[@-~]/g;

/** The message of one of the container's lines (`web-1  | hello` → `hello`), or null for other lines. */
function containerLine(name: string, ansi: boolean): (line: string) => string | null {
  const prefix = new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?:-\\d+)?\\s*\\|(?: |$)`);
  return (line) => {
    const plain = line.replace(ANSI, '');
    const m = prefix.exec(plain);
    if (!m) return null;
    if (!ansi) return plain.slice(m[0].length);
    // keep the message's own colours; drop the prefix (and the colour codes compose wraps it in)
    return line.slice(line.indexOf('|') + 1).replace(/^((?:\x1b\[[0-?]*[ -/]*[@-~])*) /, '$1');
  };
}

/** The lines of a text stream, without their newlines. */
async function* lines(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buf = '';
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    buf += decoder.decode(chunk, { stream: true });
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      yield buf.slice(0, i);
      buf = buf.slice(i + 1);
    }
  }
  buf += decoder.decode();
  if (buf) yield buf;
}

/**
 * Items of several async sources as they arrive, tagged with the source's index. A source that fails
 * (its host stream was cut or aborted) just ends, so nothing is left to reject unobserved.
 */
async function* merge<T>(sources: AsyncIterator<T>[]): AsyncGenerator<{ i: number; value: T }> {
  const next = (i: number) =>
    sources[i].next().then(
      (r) => ({ i, r }),
      () => ({ i, r: { done: true, value: undefined } as IteratorResult<T> }),
    );
  const pending = new Map(sources.map((_, i) => [i, next(i)] as const));
  while (pending.size) {
    const { i, r } = await Promise.race(pending.values());
    if (r.done) {
      pending.delete(i);
      continue;
    }
    pending.set(i, next(i));
    yield { i, value: r.value };
  }
}
