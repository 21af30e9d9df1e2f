/**
 * Relaying a CVM's logs from its host: the one place a request reaches a host, on purpose. A log is a stream
 * the host produces as the VM runs, which the control plane relays (and, with `follow`, keeps relaying until
 * the client goes away or the host ends it). It is not a read of state — there is nothing for the store to
 * hold — so status, containers and figures still come from the store.
 *
 * Host channels (dstack-vmm `GET /logs`): serial, stdout, stderr. The stdout/stderr channels carry docker
 * compose's output, each container's lines prefixed `<service>-<n>  | `; a container's log is its lines of
 * both channels without that prefix, in the guest agent's `/logs/<container>` format: JSON lines
 * `{"channel","message"}` (message base64, or text with `text`), or the bare lines with `bare`.
 */
import { once } from 'node:events';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiError, ErrorCodes } from '@opencvm/core';
import type { Services } from './context.ts';
import { trackStream } from './streams.ts';
import type { LogTarget } from '../store/runtime.ts';

export type Channel = 'serial' | 'stdout' | 'stderr';
type Query = { [k: string]: unknown };

/** A bare `?follow` arrives as "" and means yes. */
export const flag = (q: Query, k: string) => typeof q[k] === 'string' && q[k] !== 'false' && q[k] !== '0';

/** The guest agent shows the last 1000 lines of a container unless told otherwise. */
export const CONTAINER_TAIL = 1000;

/** `tail`/`lines` as a count; undefined for all. */
export function lineCount(q: Query): number | undefined {
  const v = q.lines ?? q.tail;
  if (typeof v !== 'string' || v === '' || v === 'all') return undefined;
  return Number(v);
}

/** An abort signal that fires when the client's connection closes (it ends the host streams too) or the server closes. */
export function abortOnClose(req: FastifyRequest, reply: FastifyReply): AbortSignal {
  const ac = new AbortController();
  const untrack = trackStream(req.server, () => ac.abort());
  reply.raw.on('close', () => {
    untrack();
    ac.abort();
  });
  return ac.signal;
}

export async function sendContainerLog(
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

export async function openHostLog(
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
export async function relay(reply: FastifyReply, contentType: string, source: AsyncIterable<string | Uint8Array>): Promise<void> {
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
