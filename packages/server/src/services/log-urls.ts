/**
 * Signed log URLs, as the `phala` CLI uses them: it fetches `syslog_endpoint` (v2025 `GET /cvms/{id}`, list
 * items) and each container's `log_endpoint` (`GET /cvms/{id}/composition`) with a plain `fetch` and no API
 * key, so the URL itself carries the authority: `cvm=<vm_uuid>&exp=<unix seconds>&token=<t>`, where the
 * token is an HMAC of the vm_uuid and the expiry under a server secret (`server_secrets.log_url_key`, 32
 * random bytes created on first use). A URL works without a key, cannot be forged for another CVM nor have
 * its expiry moved, and works for `ttlMs` (15 minutes) from the read that handed it out; every read of the
 * CVM hands out a fresh one. The expiry is checked when a request starts: a `follow` stream opened in time
 * runs on past it.
 *
 * A token is a bearer secret, so it never reaches the server log: `loggerOptions` redacts `token=` from
 * every line (the request's URL, and any message or error that quotes one).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { ApiError, ErrorCodes, composeFlags } from '@opencvm/core';
import type { FastifyServerOptions } from 'fastify';
import type { Db } from '../db/index.ts';
import { logTarget, type LogTarget } from '../store/runtime.ts';
import { insertSecretIfAbsent, readSecret } from '../store/secrets.ts';

const SECRET_NAME = 'log_url_key';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** How long a log URL works after the read that handed it out. */
export const LOG_URL_TTL_MS = 15 * 60_000;

export interface LogUrlOptions {
  /** how long a URL works after it was handed out, ms (default 15 minutes) */
  ttlMs?: number;
  /** the clock, ms since the epoch (tests move it) */
  now?: () => number;
}

/** What a log request brings: its query (`cvm`, `exp`, `token`; the rest is the route's). */
export interface LogUrlQuery {
  cvm?: unknown;
  exp?: unknown;
  token?: unknown;
}

const FRESH_URL = 'read the CVM again for a fresh log URL: GET /cvms/{id} (`syslog_endpoint`, API version 2025-10-28) or GET /cvms/{id}/composition (`log_endpoint`); `phala logs` does this on every run';

export class LogUrlService {
  private key: Promise<Buffer> | undefined;
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(
    private readonly db: Db,
    /** the server's public URL (known once it listens) */
    private readonly publicUrl: { value: string },
    opts: LogUrlOptions = {},
  ) {
    this.ttlMs = opts.ttlMs ?? LOG_URL_TTL_MS;
    if (!(this.ttlMs > 0)) throw new Error(`the log URL lifetime must be a positive number of ms, not ${opts.ttlMs}`);
    this.now = opts.now ?? Date.now;
  }

  /** The signing key: read, or created in one transaction by whichever server asks first. */
  private secret(): Promise<Buffer> {
    this.key ??= this.db
      .tx(async (q) => {
        await insertSecretIfAbsent(q, SECRET_NAME, randomBytes(32).toString('base64url'));
        return Buffer.from((await readSecret(q, SECRET_NAME))!, 'base64url');
      })
      .catch((e) => {
        this.key = undefined;
        throw e;
      });
    return this.key;
  }

  /** The token of a CVM's log URLs that expire at `exp` (unix seconds): it signs both. */
  async token(vmUuid: string, exp: number): Promise<string> {
    return createHmac('sha256', await this.secret()).update(`opencvm-logs:v2:${vmUuid}:${exp}`).digest('base64url');
  }

  private get base() {
    return this.publicUrl.value.replace(/\/$/, '');
  }

  /** `cvm=…&exp=…&token=…` of a URL handed out now; the token stays last, before what the CLI appends. */
  private async query(vmUuid: string): Promise<string> {
    const exp = Math.ceil((this.now() + this.ttlMs) / 1000);
    return `cvm=${vmUuid}&exp=${exp}&token=${await this.token(vmUuid, exp)}`;
  }

  /** `syslog_endpoint` of the v2025 detail and list items: already has a `?` (the CLI appends `&ch=…`). */
  async syslogEndpoint(vmUuid: string): Promise<string> {
    return `${this.base}/logs/syslog?${await this.query(vmUuid)}`;
  }

  /** The `log_endpoint` of each of a CVM's containers, by container name. */
  async containerEndpoints(vmUuid: string): Promise<(container: string) => string> {
    const query = `?${await this.query(vmUuid)}`;
    return (container) => `${this.base}/logs/container/${encodeURIComponent(container)}${query}`;
  }

  /**
   * Who may read a CVM's logs: the holder of an unexpired token; for container logs also anyone when the
   * app-compose says `public_logs: true` (serial and the host channels always need the token: they show the
   * boot). Missing token → 401; a wrong token, or an `exp` it does not sign → 403; a genuine token past
   * its `exp` → 403 telling to read the CVM again. All before the CVM is looked up.
   */
  async authorize(q: LogUrlQuery, kind: 'syslog' | 'container'): Promise<LogTarget> {
    const { cvm: vmUuid, exp, token } = q;
    if (typeof vmUuid !== 'string' || !UUID.test(vmUuid.toLowerCase())) {
      throw new ApiError(400, ErrorCodes.INVALID_REQUEST, 'A log URL names its CVM with `cvm=<vm_uuid>`: use the URL the API returned.');
    }
    const uuid = vmUuid.toLowerCase();
    if (typeof token === 'string' && token) {
      // an `exp` that is not a plain number (or none: a URL from before they expired) signs nothing
      const expiry = typeof exp === 'string' && /^\d{1,12}$/.test(exp) ? Number(exp) : undefined;
      const want = Buffer.from(expiry === undefined ? '' : await this.token(uuid, expiry));
      const got = Buffer.from(token);
      if (expiry === undefined || got.length !== want.length || !timingSafeEqual(got, want)) {
        throw new ApiError(403, ErrorCodes.CVM_ACCESS_DENIED, `This log URL's token is not valid for this CVM: ${FRESH_URL}.`, {
          suggestions: ['Use the log URL exactly as the API returned it.'],
        });
      }
      if (this.now() >= expiry * 1000) {
        throw new ApiError(403, ErrorCodes.CVM_ACCESS_DENIED, `This log URL expired at ${new Date(expiry * 1000).toISOString()}: ${FRESH_URL}.`, {
          suggestions: ['Log URLs work for a limited time after the read that returned them; read the CVM again for a fresh one.'],
        });
      }
      return this.target(uuid);
    }
    const target = kind === 'container' ? await logTarget(this.db, uuid) : null;
    if (target && composeFlags(target.app_compose).public_logs) return target;
    throw new ApiError(401, ErrorCodes.CVM_ACCESS_DENIED,
      kind === 'container'
        ? 'This CVM\'s logs are not public: use the log URL with its token, as GET /cvms/{id}/composition returns it.'
        : 'Serial and host log channels need the token of the URL GET /cvms/{id} returns (`syslog_endpoint`).');
  }

  private async target(uuid: string): Promise<LogTarget> {
    const target = await logTarget(this.db, uuid);
    if (!target) throw new ApiError(404, ErrorCodes.CVM_NOT_FOUND, `CVM ${uuid} does not exist (or was deleted).`);
    return target;
  }
}

/** `token=<secret>` in a URL or a line of text → `token=[REDACTED]`. */
const TOKEN_PARAM = /([?&]token=)[^&#\s"'\\]+/gi;

export function redactLogTokens(text: string): string {
  return text.replace(TOKEN_PARAM, '$1[REDACTED]');
}

type LineSink = { write(line: string): unknown };

/**
 * The server's logger settings. Log URL tokens are bearer secrets and must not land in the log: the
 * request serializer logs the URL with `token=[REDACTED]`, and every line is scrubbed the same way on its
 * way out, so a message or an error that quotes a URL (fastify's own "Reply was already sent … in <url>",
 * an error's stack) does not leak one either. API keys never reach a line: the request serializer logs no
 * headers, and the header paths stay redacted should one be logged.
 */
export function loggerOptions(level: string, destination: LineSink = process.stdout): FastifyServerOptions['logger'] {
  return {
    level,
    redact: ['req.headers["x-api-key"]', 'req.headers["x-admin-key"]', 'req.headers.authorization', 'headers["x-api-key"]', 'headers["x-admin-key"]', 'headers.authorization'],
    serializers: {
      req: (req: { method?: string; url?: string; host?: string; ip?: string; socket?: { remotePort?: number } }) => ({
        method: req.method,
        url: req.url === undefined ? undefined : redactLogTokens(req.url),
        host: req.host,
        remoteAddress: req.ip,
        remotePort: req.socket?.remotePort,
      }),
    },
    stream: { write: (line: string) => destination.write(redactLogTokens(line)) },
  };
}
