/**
 * Rate limits, one token bucket per key in this process's memory: per client address on the surfaces anyone can
 * reach (the contract's `rateLimitsOf(e).clientIp`: the guest KMS, the auth webhook, the log URLs, everything
 * under `/api/v1/attestations/`), checked before any credential; per API key on mutations (`apiKey`), checked
 * once the key is known, keyed by the key's id (never its text). A bucket holds `perMinute` requests and
 * refills at `perMinute` a minute, so a burst of up to a minute's worth passes, then one request every
 * 60/`perMinute` s. Exceeded: 429 `ERR-00-429` with `Retry-After` (whole seconds, at least 1) in the envelope.
 *
 * Each server process counts on its own: N replicas behind a load balancer allow N times the rate.
 * Memory stays bounded: buckets are kept in least-recently-used order, a bucket idle long enough to be full
 * again is dropped (a full bucket is the same as none), and past `maxKeys` the least recently used go first.
 */
import { isIPv4 } from 'node:net';
import { ApiError, ErrorCodes } from '@opencvm/core';

export interface LimiterOptions {
  /** requests a key may make in a minute (and in one burst) */
  perMinute: number;
  /** milliseconds since some fixed time (tests move it) */
  now?: () => number;
  /** most buckets kept at once */
  maxKeys?: number;
}

interface Bucket {
  tokens: number;
  /** when `tokens` was computed, ms */
  at: number;
}

export class TokenBucketLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly perMs: number;
  private readonly now: () => number;
  private readonly maxKeys: number;
  /** how long an untouched bucket takes to be full again, ms */
  private readonly fullAfterMs: number;

  constructor(readonly opts: LimiterOptions) {
    if (!(opts.perMinute >= 1)) throw new Error('perMinute must be at least 1');
    this.perMs = opts.perMinute / 60_000;
    this.now = opts.now ?? (() => performance.now());
    this.maxKeys = opts.maxKeys ?? 100_000;
    this.fullAfterMs = 60_000;
  }

  /** How many buckets are kept (tests). */
  get size(): number {
    return this.buckets.size;
  }

  /** Take one request for `key`: `0` if it may go ahead, else the whole seconds (at least 1) until it may. */
  take(key: string): number {
    const now = this.now();
    this.evictIdle(now);
    const cap = this.opts.perMinute;
    const b = this.buckets.get(key);
    let tokens = cap;
    if (b) {
      tokens = Math.min(cap, b.tokens + Math.max(0, now - b.at) * this.perMs);
      // touched: to the end of the least-recently-used order
      this.buckets.delete(key);
    }
    if (tokens >= 1) {
      this.buckets.set(key, { tokens: tokens - 1, at: now });
      while (this.buckets.size > this.maxKeys) this.buckets.delete(this.buckets.keys().next().value!);
      return 0;
    }
    this.buckets.set(key, { tokens, at: now });
    return Math.max(1, Math.ceil((1 - tokens) / this.perMs / 1000));
  }

  /** Drop the buckets, oldest first, untouched long enough to be full again. */
  private evictIdle(now: number): void {
    for (const [key, b] of this.buckets) {
      if (now - b.at < this.fullAfterMs) return;
      this.buckets.delete(key);
    }
  }
}

/**
 * The bucket key of a client address: an IPv4 address (an IPv4-mapped IPv6 one as IPv4) as it is, an IPv6
 * address by its /64 (one host is usually given a whole /64, so its single addresses would each get a bucket).
 */
export function clientAddressKey(ip: string | undefined): string {
  // a socket closed before the request was read has no address: those share one bucket
  if (!ip) return 'unknown';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return mapped[1];
  if (isIPv4(ip) || !ip.includes(':')) return ip;
  const [head, tail = ''] = ip.split('%')[0].toLowerCase().split('::');
  const left = head ? head.split(':') : [];
  const right = ip.includes('::') && tail ? tail.split(':') : [];
  const groups = ip.includes('::') ? [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right] : left;
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}

/** The server's limits: `undefined` where a limit is off. */
export interface RateLimits {
  clientIp?: TokenBucketLimiter;
  apiKey?: TokenBucketLimiter;
}

export function rateLimits(o: { publicPerMinute: number; mutationsPerMinute: number; now?: () => number }): RateLimits {
  return {
    clientIp: o.publicPerMinute > 0 ? new TokenBucketLimiter({ perMinute: o.publicPerMinute, now: o.now }) : undefined,
    apiKey: o.mutationsPerMinute > 0 ? new TokenBucketLimiter({ perMinute: o.mutationsPerMinute, now: o.now }) : undefined,
  };
}

/** 429 if the client address has no request left (a no-op when the limit is off). */
export function limitClientAddress(limits: RateLimits, ip: string | undefined): void {
  if (!limits.clientIp) return;
  const wait = limits.clientIp.take(clientAddressKey(ip));
  if (wait) {
    throw tooMany(wait, `Too many requests from this address (at most ${limits.clientIp.opts.perMinute} a minute): retry in ${wait} s.`);
  }
}

/** 429 if the API key has no mutation left (a no-op when the limit is off). */
export function limitApiKey(limits: RateLimits, apiKeyId: number): void {
  if (!limits.apiKey) return;
  const wait = limits.apiKey.take(`key:${apiKeyId}`);
  if (wait) {
    throw tooMany(wait, `Too many changes with this API key (at most ${limits.apiKey.opts.perMinute} a minute): retry in ${wait} s. Reads are not limited.`);
  }
}

const tooMany = (seconds: number, message: string) =>
  new ApiError(429, ErrorCodes.RATE_LIMITED, message, {
    headers: { 'retry-after': String(seconds) },
    suggestions: ['Wait the number of seconds the Retry-After header gives, then retry.'],
  });
