/**
 * Per-VM log channels (serial, stdout, stderr) and dstack-vmm's `GET /logs` endpoint:
 * plain text, the last `lines` (default 10000) lines, `follow=true` keeps streaming until the VM's
 * process stops or the client goes away, `[vmm heartbeat]\n` every 60 s while idle.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { stripAnsi } from './util.ts';

export const LOG_CHANNELS = ['serial', 'stdout', 'stderr'] as const;
export type LogChannel = (typeof LOG_CHANNELS)[number];

/** Lines kept per channel (the real VMM rotates serial.log at 4 MB). */
const MAX_LINES = 20000;
const HEARTBEAT_MS = 60_000;

interface Follower {
  channel: LogChannel;
  write(line: string): void;
  end(): void;
}

export class VmLogs {
  private readonly lines: Record<LogChannel, string[]> = { serial: [], stdout: [], stderr: [] };
  private readonly followers = new Set<Follower>();

  append(channel: LogChannel, line: string): void {
    const buf = this.lines[channel];
    for (const l of line.split('\n')) {
      buf.push(l);
      for (const f of this.followers) if (f.channel === channel) f.write(l);
    }
    if (buf.length > MAX_LINES) buf.splice(0, buf.length - MAX_LINES);
  }

  tail(channel: LogChannel, n: number): string[] {
    const buf = this.lines[channel];
    return n >= buf.length ? [...buf] : buf.slice(buf.length - n);
  }

  text(channel: LogChannel): string {
    return this.lines[channel].join('\n');
  }

  follow(f: Follower): () => void {
    this.followers.add(f);
    return () => this.followers.delete(f);
  }

  /** Ends every follow stream (the VM process stopped, or the VM is gone). */
  endFollowers(): void {
    const all = [...this.followers];
    this.followers.clear();
    for (const f of all) f.end();
  }
}

const truthy = (v: string | null): boolean => v === 'true' || v === '1' || v === '';

/** Serves `GET /logs` for one VM; `isRunning` decides whether a follow stream stays open. */
export function serveLogs(
  req: IncomingMessage,
  res: ServerResponse,
  query: URLSearchParams,
  logs: VmLogs,
  isRunning: boolean,
): void {
  const chParam = query.get('ch') ?? 'serial';
  if (!LOG_CHANNELS.includes(chParam as LogChannel)) {
    res.writeHead(400, { 'Content-Type': 'text/plain; charset=utf-8' });
    res.end(`invalid channel: ${chParam} (expected serial, stdout or stderr)\n`);
    return;
  }
  const channel = chParam as LogChannel;
  const follow = query.has('follow') && truthy(query.get('follow'));
  const ansi = query.has('ansi') && truthy(query.get('ansi'));
  const linesParam = query.get('lines');
  const lines = linesParam !== null && /^\d+$/.test(linesParam) ? Number(linesParam) : 10000;
  const fmt = (l: string): string => (ansi ? l : stripAnsi(l)) + '\n';

  res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-cache' });
  const head = logs.tail(channel, lines).map(fmt).join('');
  if (!follow || !isRunning) {
    res.end(head);
    return;
  }
  if (head) res.write(head);
  // Send headers and the tail now, so a client sees the stream start before any new line.
  res.flushHeaders();

  let lastWrite = Date.now();
  const heartbeat = setInterval(() => {
    if (Date.now() - lastWrite >= HEARTBEAT_MS - 50) {
      res.write('[vmm heartbeat]\n');
      lastWrite = Date.now();
    }
  }, HEARTBEAT_MS);
  const unsubscribe = logs.follow({
    channel,
    write(line) {
      lastWrite = Date.now();
      res.write(fmt(line));
    },
    end() {
      cleanup();
      res.end();
    },
  });
  function cleanup(): void {
    clearInterval(heartbeat);
    unsubscribe();
  }
  req.on('close', cleanup);
  res.on('close', cleanup);
}
