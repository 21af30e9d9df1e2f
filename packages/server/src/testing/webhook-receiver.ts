/** A webhook receiver on 127.0.0.1 for the tests: it keeps every request and answers as the test says. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  path: string;
  id: string;
  timestamp: string;
  signature: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** the status it was answered (null: not answered, e.g. held) */
  answered: number | null;
}

/** What to do with a request: a status (and body), or `hold` (never answer). */
export type Reply = { status: number; body?: string | Buffer; headers?: Record<string, string> } | 'hold';

export interface Receiver {
  url: string;
  received: Received[];
  reply: (r: Received) => Reply;
  close(): Promise<void>;
}

export async function startReceiver(reply: (r: Received) => Reply = () => ({ status: 200, body: 'ok' })): Promise<Receiver> {
  const held: http.ServerResponse[] = [];
  const recv: Receiver = {
    url: '',
    received: [],
    reply,
    close: async () => {
      for (const res of held) res.destroy();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r: Received = {
        path: req.url ?? '',
        id: String(req.headers['webhook-id'] ?? ''),
        timestamp: String(req.headers['webhook-timestamp'] ?? ''),
        signature: String(req.headers['webhook-signature'] ?? ''),
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        answered: null,
      };
      recv.received.push(r);
      const what = recv.reply(r);
      if (what === 'hold') {
        held.push(res);
        return;
      }
      r.answered = what.status;
      res.writeHead(what.status, what.headers);
      res.end(what.body ?? '');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  recv.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return recv;
}
