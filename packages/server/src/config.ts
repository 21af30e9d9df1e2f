/**
 * The server's settings, from the environment (README: "Configuration"). Every variable the server reads is
 * parsed here, by one schema, when it starts: a bad value stops the start with a message that names the
 * variable, the value and what was expected. No other server file reads `process.env`.
 */
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { z } from '@opencvm/core';

export interface HostConfig {
  name: string;
  url: string;
  /** bearer token for the host's pRPC API, if it has auth enabled */
  authToken?: string;
  /** token this host's guests present to our KMS (stands in for TDX attestation) */
  kmsToken?: string;
  region?: string;
}

/** A chain whose KMS contract governs the apps of an on-chain KMS type (`ETHEREUM`, `BASE`). */
export interface ChainConfig {
  /** the KMS type it serves: `ethereum` or `base` */
  kmsType: OnChainKmsType;
  chainId: number;
  /** JSON-RPC endpoint (it may carry a provider key in its path: never shown) */
  rpcUrl: string;
  /** the DstackKms-compatible contract: app registry and factory, `0x` + 40 lowercase hex */
  kmsContract: string;
}

export const ON_CHAIN_KMS_TYPES = ['ethereum', 'base'] as const;
export type OnChainKmsType = (typeof ON_CHAIN_KMS_TYPES)[number];

export interface Config {
  host: string;
  port: number;
  dataDir: string;
  databaseUrl?: string;
  /** most connections the PostgreSQL pool opens */
  dbPool: number;
  /** the embedded PostgreSQL's port on 127.0.0.1 (no DATABASE_URL); 0: a free port at each start */
  dbPort: number;
  /** the bootstrap workspace's API key; generated on first start when unset */
  apiKey?: string;
  /**
   * the 32-byte key the KMS root keys are sealed with in the database (every replica of one database needs
   * the same); unset: generated once into `<dataDir>/seal-key`
   */
  sealKey?: Buffer;
  /** URL guests and clients reach this server at; defaults to http://HOST:PORT */
  publicUrl?: string;
  /** dstack hosts to register at start; empty + simulatedHost means one simulated host */
  hosts: HostConfig[];
  /** run an in-process simulated dstack host (the default when no hosts are configured) */
  simulatedHost: boolean;
  /** boot time of the simulated host, ms */
  simBootMs: number;
  /** how long a provision stays valid, ms (14 days) */
  provisionTtlMs: number;
  /** how often hosts are read to bring VM state and guest runtime into the store, ms */
  reconcileMs: number;
  /** a VM opencvm created that no CVM owns is removed from its host once it has been one this long, ms */
  orphanGraceMs: number;
  /** a host whose reads fail this many reconcile ticks in a row is marked unreachable */
  unreachableAfter: number;
  /** recovery operations the reconciler queues in a row for a CVM whose host does not match its desired state (0: none) */
  recoveryAttempts: number;
  /** the wait before the first of them, ms (each further one waits twice as long, at most 5 minutes) */
  recoveryBackoffMs: number;
  logLevel: string;
  /** when set, `GET /metrics` answers only a caller that sends it as `Authorization: Bearer` */
  metricsToken?: string;
  /** when set, the host admin API (`/api/v1/admin/hosts…`) answers a caller that sends it as `X-Admin-Key`; unset: it is off (403) */
  adminKey?: string;
  /** the chains of the on-chain KMS types this server offers (none: PHALA KMS only) */
  chains: ChainConfig[];
  /** GitHub's web origin, which serves a user's public keys at `/<user>.keys` (the SSH keys' GitHub import) */
  githubUrl: string;
  /** requests a minute per client address on the surfaces anyone can reach (guest KMS, auth webhook, log URLs, attestations); 0: no limit */
  rateLimitPublic: number;
  /** mutations (POST, PUT, PATCH, DELETE) a minute per API key; 0: no limit */
  rateLimitMutations: number;
  /**
   * which proxies in front of the server are trusted to name the client (`X-Forwarded-For`), as fastify's
   * `trustProxy`: false (the socket's address is the client), a number of hops, or addresses/CIDR ranges
   */
  trustProxy: false | number | string[];
  /** webhook URLs may resolve to loopback, private and link-local addresses (`OPENCVM_WEBHOOK_ALLOW_PRIVATE`) */
  webhookAllowPrivate: boolean;
  /** one webhook attempt's time limit, ms */
  webhookTimeoutMs: number;
  /** a webhook delivery is retried until this long after it was queued, ms */
  webhookMaxAgeMs: number;
  /** after a secret rotation, the old secret signs too for this long, ms */
  webhookSecretGraceMs: number;
  /** events older than this many days are deleted, with their webhook deliveries (0: kept for ever) */
  eventRetentionDays: number;
}

/** The configuration could not be read from the environment; `message` is one line, fit for an operator. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** The log levels of fastify's logger (pino). */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const HOSTS_FORM = 'comma-separated name=http://host:port[#authToken[#kmsToken]] entries';

/** A value that is not what its variable expects, and why (shown after what is expected). */
class Problem {
  constructor(readonly why: string) {}
}

/** One variable: `parse` turns its text into the value, or answers undefined or a `Problem` when it cannot. */
function variable<T>(expected: string, parse: (text: string) => T | undefined | Problem) {
  return z.string().transform((text, ctx): T => {
    const value = parse(text);
    if (value === undefined || value instanceof Problem) {
      const why = value instanceof Problem ? ` (${value.why})` : '';
      ctx.issues.push({ code: 'custom', message: expected + why, input: text });
      return z.NEVER;
    }
    return value;
  });
}

const wholeNumber = (min: number, max = Number.MAX_SAFE_INTEGER) => (text: string) => {
  if (!/^\d+$/.test(text)) return undefined;
  const n = Number(text);
  return n >= min && n <= max ? n : undefined;
};

const httpUrl = (text: string): URL | undefined => {
  try {
    const url = new URL(text);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url : undefined;
  } catch {
    return undefined;
  }
};

/** `name=url[#authToken[#kmsToken]]`, comma-separated, e.g. `host-a=http://10.0.0.5:9080#s3cret#guest-token`. */
function parseHosts(spec: string): HostConfig[] | Problem {
  const hosts: HostConfig[] = [];
  for (const raw of spec.split(',')) {
    const entry = raw.trim();
    if (!entry) return new Problem('an entry is empty');
    const [nameUrl, authToken, kmsToken, ...rest] = entry.split('#');
    const eq = nameUrl.indexOf('=');
    const name = eq < 0 ? '' : nameUrl.slice(0, eq).trim();
    const url = eq < 0 ? '' : nameUrl.slice(eq + 1).trim();
    if (!name || /\s/.test(name)) return new Problem(`entry "${nameUrl}" has no name= before its URL`);
    if (!httpUrl(url)) return new Problem(`the URL of "${name}" is not an http:// or https:// URL`);
    if (rest.length) return new Problem(`the entry of "${name}" has more than two #tokens`);
    if (hosts.some((h) => h.name === name)) return new Problem(`"${name}" is named twice`);
    hosts.push({ name, url, authToken: authToken || undefined, kmsToken: kmsToken || undefined });
  }
  return hosts;
}

/** 32 bytes, as 64 hex digits or as base64 (standard or URL-safe alphabet, padding optional). */
function parseSealKey(text: string): Buffer | Problem {
  const t = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(t)) return Buffer.from(t, 'hex');
  if (/^[A-Za-z0-9+/_-]{43}=?$/.test(t)) {
    const key = Buffer.from(t.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    if (key.length === 32) return key;
  }
  return new Problem(`it is ${t.length} characters long; make one with: openssl rand -hex 32`);
}

/** `OPENCVM_TRUST_PROXY`: 0 → false, a hop count, or addresses and CIDR ranges (IPv4 or IPv6). */
function parseTrustProxy(text: string): false | number | string[] | Problem {
  const t = text.trim();
  if (/^\d+$/.test(t)) return Number(t) === 0 ? false : Number(t) <= 100 ? Number(t) : new Problem('at most 100 hops');
  const entries = t.split(',').map((e) => e.trim());
  for (const e of entries) {
    const [ip, bits, ...rest] = e.split('/');
    const family = isIP(ip);
    if (!family || rest.length) return new Problem(`"${e}" is not an address or CIDR range`);
    if (bits !== undefined && !(/^\d+$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128))) return new Problem(`"${e}" has an invalid prefix length`);
  }
  return entries;
}

const address = (t: string) => (/^0x[0-9a-fA-F]{40}$/.test(t) ? t.toLowerCase() : undefined);
const RPC_URL = 'an http:// or https:// JSON-RPC URL, e.g. http://127.0.0.1:8545';
const KMS_CONTRACT = 'the KMS contract address, 0x and 40 hex digits';

const schema = z.object({
  PORT: variable('a port number, 0 to 65535', wholeNumber(0, 65535)).default(8000),
  HOST: variable('a host name or IP address to listen on, e.g. 127.0.0.1 or 0.0.0.0', (t) =>
    /^[\w.:%[\]-]+$/.test(t) ? t : undefined,
  ).default('127.0.0.1'),
  OPENCVM_DATA_DIR: variable('a directory', (t) => resolve(t)).default(() => resolve('./.opencvm')),
  DATABASE_URL: variable('a postgres:// or postgresql:// URL (leave it unset for the embedded PostgreSQL)', (t) =>
    /^postgres(ql)?:\/\/./.test(t) ? t : undefined,
  ).optional(),
  OPENCVM_API_KEY: variable('printable ASCII characters without spaces (the key is sent in the X-API-Key header)', (t) =>
    /^[\x21-\x7e]+$/.test(t) ? t : undefined,
  ).optional(),
  OPENCVM_SEAL_KEY: variable('32 bytes as 64 hex digits or as base64', parseSealKey).optional(),
  OPENCVM_PUBLIC_URL: variable('an http:// or https:// URL without query or fragment, e.g. https://cvm.example.com', (t) => {
    const url = httpUrl(t);
    return url && !url.search && !url.hash ? t.replace(/\/+$/, '') : undefined;
  }).optional(),
  OPENCVM_HOSTS: variable(HOSTS_FORM, parseHosts).default([]),
  OPENCVM_SIMULATED_HOST: variable('0 (no simulated host) or 1 (run one)', (t) =>
    ({ '0': false, false: false, '1': true, true: true } as Record<string, boolean | undefined>)[t.toLowerCase()],
  ).optional(),
  OPENCVM_SIM_BOOT_MS: variable('a whole number of milliseconds, 0 or more', wholeNumber(0)).default(2000),
  OPENCVM_RECONCILE_MS: variable('a whole number of milliseconds, 50 or more', wholeNumber(50)).default(5000),
  OPENCVM_ORPHAN_GRACE_MS: variable('a whole number of milliseconds, 0 or more', wholeNumber(0)).default(300_000),
  OPENCVM_UNREACHABLE_AFTER: variable('a whole number of reconcile ticks, 1 or more', wholeNumber(1)).default(3),
  OPENCVM_RECOVERY_ATTEMPTS: variable('a whole number of attempts, 0 (never) or more', wholeNumber(0)).default(5),
  OPENCVM_RECOVERY_BACKOFF_MS: variable('a whole number of milliseconds, 0 or more', wholeNumber(0)).default(5000),
  LOG_LEVEL: variable(`one of ${LOG_LEVELS.join(', ')}`, (t) => (LOG_LEVELS as readonly string[]).includes(t) ? t : undefined).default('info'),
  OPENCVM_DB_POOL: variable('a whole number of connections, 1 or more', wholeNumber(1)).default(10),
  OPENCVM_DB_PORT: variable('a port number, 0 to 65535 (0: a free port)', wholeNumber(0, 65535)).default(0),
  OPENCVM_METRICS_TOKEN: variable('at least 16 printable ASCII characters without spaces (sent as Authorization: Bearer <token>)', (t) =>
    /^[\x21-\x7e]{16,}$/.test(t) ? t : undefined,
  ).optional(),
  OPENCVM_ADMIN_KEY: variable('at least 16 printable ASCII characters without spaces (sent as X-Admin-Key), not the same as OPENCVM_API_KEY', (t) =>
    /^[\x21-\x7e]{16,}$/.test(t) ? t : undefined,
  ).optional(),
  OPENCVM_ETHEREUM_RPC_URL: variable(RPC_URL, (t) => (httpUrl(t) ? t : undefined)).optional(),
  OPENCVM_ETHEREUM_KMS_CONTRACT: variable(KMS_CONTRACT, address).optional(),
  OPENCVM_ETHEREUM_CHAIN_ID: variable('a chain id, 1 or more', wholeNumber(1)).default(1),
  OPENCVM_BASE_RPC_URL: variable(RPC_URL, (t) => (httpUrl(t) ? t : undefined)).optional(),
  OPENCVM_BASE_KMS_CONTRACT: variable(KMS_CONTRACT, address).optional(),
  OPENCVM_BASE_CHAIN_ID: variable('a chain id, 1 or more', wholeNumber(1)).default(8453),
  OPENCVM_GITHUB_URL: variable('an http:// or https:// URL without query or fragment, e.g. https://github.com', (t) => {
    const url = httpUrl(t);
    return url && !url.search && !url.hash && !url.username && !url.password ? t.replace(/\/+$/, '') : undefined;
  }).default('https://github.com'),
  OPENCVM_RATE_LIMIT_PUBLIC: variable('a whole number of requests a minute per client address, 0 (no limit) or more', wholeNumber(0)).default(600),
  OPENCVM_RATE_LIMIT_MUTATIONS: variable('a whole number of requests a minute per API key, 0 (no limit) or more', wholeNumber(0)).default(600),
  OPENCVM_TRUST_PROXY: variable(
    'unset or 0 (the client is the socket\'s address), a number of proxy hops to trust, or comma-separated proxy addresses or CIDR ranges, e.g. 10.0.0.0/8,127.0.0.1',
    parseTrustProxy,
  ).default(false),
  OPENCVM_WEBHOOK_ALLOW_PRIVATE: variable('0 (webhook URLs must resolve to public addresses) or 1 (private, loopback and link-local addresses allowed too)', (t) =>
    ({ '0': false, false: false, '1': true, true: true } as Record<string, boolean | undefined>)[t.toLowerCase()],
  ).default(false),
  OPENCVM_WEBHOOK_TIMEOUT_MS: variable('a whole number of milliseconds, 100 to 60000', wholeNumber(100, 60_000)).default(10_000),
  OPENCVM_WEBHOOK_MAX_AGE_MS: variable('a whole number of milliseconds, 1000 to 604800000 (7 days)', wholeNumber(1000, 604_800_000)).default(86_400_000),
  OPENCVM_WEBHOOK_SECRET_GRACE_MS: variable('a whole number of milliseconds, 0 to 604800000 (7 days)', wholeNumber(0, 604_800_000)).default(86_400_000),
  OPENCVM_EVENT_RETENTION_DAYS: variable('a whole number of days, 0 (keep events for ever) or 1 to 3650', wholeNumber(0, 3650)).default(90),
});

/** The variables `loadConfig` reads, in the order of the README's table. */
export const CONFIG_VARIABLES = Object.keys(schema.shape) as (keyof typeof schema.shape)[];

/** A value as an error message may show it: secrets are not repeated. */
function shown(name: string, value: string): string {
  if (name === 'OPENCVM_API_KEY' || name === 'OPENCVM_METRICS_TOKEN' || name === 'OPENCVM_SEAL_KEY' || name === 'OPENCVM_ADMIN_KEY') return `(${value.length} characters, not shown)`;
  if (name === 'DATABASE_URL') return JSON.stringify(value.replace(/^([^:/]+:\/\/[^:@/]*:)[^@/]*@/, '$1***@'));
  if (name === 'OPENCVM_HOSTS') return JSON.stringify(value.replace(/#[^,]*/g, '#***'));
  // a provider's RPC URL often carries its key in the path or query: only the origin is shown
  if (name.endsWith('_RPC_URL')) return JSON.stringify(httpUrl(value) ? `${new URL(value).origin}/***` : '(not shown)');
  return JSON.stringify(value);
}

/**
 * The configuration from `env` (the process's environment by default). An empty variable counts as unset.
 * Throws a `ConfigError` naming each variable whose value is invalid, the value and what is expected.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const raw = Object.fromEntries(CONFIG_VARIABLES.map((k) => [k, env[k] === '' ? undefined : env[k]]));
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const name = String(issue.path[0]);
      return `${name}=${shown(name, raw[name] ?? '')}: expected ${issue.message}`;
    });
    throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  }
  const v = parsed.data;
  const chains: ChainConfig[] = [];
  const missing: string[] = [];
  for (const [kmsType, rpcUrl, kmsContract, chainId] of [
    ['ethereum', v.OPENCVM_ETHEREUM_RPC_URL, v.OPENCVM_ETHEREUM_KMS_CONTRACT, v.OPENCVM_ETHEREUM_CHAIN_ID],
    ['base', v.OPENCVM_BASE_RPC_URL, v.OPENCVM_BASE_KMS_CONTRACT, v.OPENCVM_BASE_CHAIN_ID],
  ] as const) {
    const prefix = `OPENCVM_${kmsType.toUpperCase()}`;
    if (rpcUrl && kmsContract) chains.push({ kmsType, chainId, rpcUrl, kmsContract });
    else if (rpcUrl) missing.push(`${prefix}_KMS_CONTRACT is not set: the ${kmsType.toUpperCase()} KMS needs ${prefix}_RPC_URL and ${prefix}_KMS_CONTRACT (npm run chain prints both for a local chain)`);
    else if (kmsContract) missing.push(`${prefix}_RPC_URL is not set: the ${kmsType.toUpperCase()} KMS needs ${prefix}_RPC_URL and ${prefix}_KMS_CONTRACT (npm run chain prints both for a local chain)`);
  }
  if (v.OPENCVM_ADMIN_KEY && v.OPENCVM_ADMIN_KEY === v.OPENCVM_API_KEY) {
    missing.push('OPENCVM_ADMIN_KEY is the same as OPENCVM_API_KEY: the admin key must be a key of its own (a workspace API key is never an admin key); make one with: openssl rand -hex 32');
  }
  if (missing.length) throw new ConfigError(`invalid configuration: ${missing.join('; ')}`);
  return {
    host: v.HOST,
    port: v.PORT,
    dataDir: v.OPENCVM_DATA_DIR,
    databaseUrl: v.DATABASE_URL,
    dbPool: v.OPENCVM_DB_POOL,
    dbPort: v.OPENCVM_DB_PORT,
    apiKey: v.OPENCVM_API_KEY,
    sealKey: v.OPENCVM_SEAL_KEY,
    publicUrl: v.OPENCVM_PUBLIC_URL,
    hosts: v.OPENCVM_HOSTS,
    simulatedHost: v.OPENCVM_SIMULATED_HOST ?? v.OPENCVM_HOSTS.length === 0,
    simBootMs: v.OPENCVM_SIM_BOOT_MS,
    provisionTtlMs: 14 * 24 * 3600 * 1000,
    reconcileMs: v.OPENCVM_RECONCILE_MS,
    orphanGraceMs: v.OPENCVM_ORPHAN_GRACE_MS,
    unreachableAfter: v.OPENCVM_UNREACHABLE_AFTER,
    recoveryAttempts: v.OPENCVM_RECOVERY_ATTEMPTS,
    recoveryBackoffMs: v.OPENCVM_RECOVERY_BACKOFF_MS,
    logLevel: v.LOG_LEVEL,
    metricsToken: v.OPENCVM_METRICS_TOKEN,
    adminKey: v.OPENCVM_ADMIN_KEY,
    chains,
    githubUrl: v.OPENCVM_GITHUB_URL,
    rateLimitPublic: v.OPENCVM_RATE_LIMIT_PUBLIC,
    rateLimitMutations: v.OPENCVM_RATE_LIMIT_MUTATIONS,
    trustProxy: v.OPENCVM_TRUST_PROXY,
    webhookAllowPrivate: v.OPENCVM_WEBHOOK_ALLOW_PRIVATE,
    webhookTimeoutMs: v.OPENCVM_WEBHOOK_TIMEOUT_MS,
    webhookMaxAgeMs: v.OPENCVM_WEBHOOK_MAX_AGE_MS,
    webhookSecretGraceMs: v.OPENCVM_WEBHOOK_SECRET_GRACE_MS,
    eventRetentionDays: v.OPENCVM_EVENT_RETENTION_DAYS,
  };
}
