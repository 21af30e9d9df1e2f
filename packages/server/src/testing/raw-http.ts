/**
 * Requests `fetch` cannot send (raw control or non-ASCII bytes in the path, no Host, malformed request lines,
 * bodies shorter or longer than their Content-Length), written byte for byte on a TCP socket, and the first
 * answer read back. Bounded: every call gives up after `timeoutMs`.
 */
import net from 'node:net';

export interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  /** the body (de-chunked), as text */
  body: string;
}

/** What came back: an answer, or nothing (the server closed the connection, or `timeoutMs` passed). */
export type RawResult = RawAnswer | { closed: true; timedOut: boolean };

export interface RawOptions {
  /** give up (and destroy the socket) after this long; default 5 s */
  timeoutMs?: number;
  /** half-close the socket once the request is written (`end` instead of keeping it open) */
  endAfterWrite?: boolean;
  /** the request is a HEAD: an answer has no body whatever its headers say */
  head?: boolean;
}

/** Parse one HTTP/1.1 answer from the start of `buf`, or null if it is not complete yet. */
export function parseAnswer(buf: Buffer, head = false): RawAnswer | null {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0])?.[1]);
  if (!status) throw new Error(`not an HTTP answer: ${JSON.stringify(lines[0])}`);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  const rest = buf.subarray(end + 4);
  if (head || status === 204 || status === 304) return { status, headers, body: '' };
  if (headers['content-length'] !== undefined) {
    const n = Number(headers['content-length']);
    return rest.length >= n ? { status, headers, body: rest.subarray(0, n).toString('utf8') } : null;
  }
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
    const parts: Buffer[] = [];
    let at = 0;
    for (;;) {
      const eol = rest.indexOf('\r\n', at);
      if (eol < 0) return null;
      const size = parseInt(rest.subarray(at, eol).toString('latin1'), 16);
      if (Number.isNaN(size)) throw new Error('malformed chunked body');
      if (size === 0) return { status, headers, body: Buffer.concat(parts).toString('utf8') };
      if (rest.length < eol + 2 + size + 2) return null;
      parts.push(rest.subarray(eol + 2, eol + 2 + size));
      at = eol + 2 + size + 2;
    }
  }
  return null; // read until the server closes
}

/** Send `request` (bytes as given) to 127.0.0.1:`port` and read the first answer. */
export function rawRequest(port: number, request: Buffer | string, opts: RawOptions = {}): Promise<RawResult> {
  const bytes = typeof request === 'string' ? Buffer.from(request, 'latin1') : request;
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (r: RawResult | Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      if (r instanceof Error) reject(r);
      else resolve(r);
    };
    const tryParse = (final: boolean) => {
      const buf = Buffer.concat(chunks);
      try {
        const answer = parseAnswer(buf, opts.head);
        if (answer) return finish(answer);
        if (final) {
          const end = buf.indexOf('\r\n\r\n');
          if (end < 0) {
            return finish(buf.length ? new Error(`incomplete answer: ${JSON.stringify(buf.toString('latin1').slice(0, 200))}`) : { closed: true, timedOut: false });
          }
          // no Content-Length and not chunked: the body runs to the end of the connection
          const a = parseAnswer(buf.subarray(0, end + 4), true)!;
          if (a.headers['content-length'] !== undefined || a.headers['transfer-encoding'] !== undefined) {
            return finish(new Error(`the connection closed before the body was complete: ${JSON.stringify(buf.toString('latin1').slice(0, 200))}`));
          }
          return finish({ ...a, body: buf.subarray(end + 4).toString('utf8') });
        }
      } catch (e) {
        finish(e as Error);
      }
    };
    const socket = net.connect({ host: '127.0.0.1', port }, () => {
      socket.write(bytes);
      if (opts.endAfterWrite) socket.end();
    });
    const timer = setTimeout(() => {
      if (chunks.length) tryParse(true);
      finish({ closed: true, timedOut: true });
    }, opts.timeoutMs ?? 5000);
    socket.on('data', (d) => {
      chunks.push(d);
      tryParse(false);
    });
    socket.on('end', () => tryParse(true));
    socket.on('close', () => tryParse(true));
    // a reset after the answer was written is normal when the server refuses a request mid-body
    socket.on('error', () => tryParse(true));
  });
}
