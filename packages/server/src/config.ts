/** The server's settings, from the environment (README: "Configuration"). */
import { resolve } from 'node:path';

export interface HostConfig {
  name: string;
  url: string;
  /** bearer token for the host's pRPC API, if it has auth enabled */
  authToken?: string;
  /** token this host's guests present to our KMS (stands in for TDX attestation) */
  kmsToken?: string;
  region?: string;
}

export interface Config {
  host: string;
  port: number;
  dataDir: string;
  databaseUrl?: string;
  /** the bootstrap workspace's API key; generated on first start when unset */
  apiKey?: string;
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
  logLevel: string;
}

/**
 * OPENCVM_HOSTS is a comma-separated list of `name=url` entries, each optionally followed by
 * `#authToken#kmsToken`, e.g. `host-a=http://10.0.0.5:9080#s3cret#guest-token`.
 */
export function parseHosts(spec: string | undefined): HostConfig[] {
  if (!spec?.trim()) return [];
  return spec.split(',').map((entry) => {
    const [nameUrl, authToken, kmsToken] = entry.trim().split('#');
    const eq = nameUrl.indexOf('=');
    if (eq < 1) throw new Error(`OPENCVM_HOSTS entry "${entry}" must look like name=http://host:port`);
    return { name: nameUrl.slice(0, eq), url: nameUrl.slice(eq + 1), authToken: authToken || undefined, kmsToken: kmsToken || undefined };
  });
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const hosts = parseHosts(env.OPENCVM_HOSTS);
  const port = Number(env.PORT ?? 8000);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`PORT must be a port number, not "${env.PORT}"`);
  const reconcileMs = Number(env.OPENCVM_RECONCILE_MS ?? 5000);
  if (!(reconcileMs >= 50)) throw new Error(`OPENCVM_RECONCILE_MS must be a number of milliseconds ≥ 50, not "${env.OPENCVM_RECONCILE_MS}"`);
  return {
    host: env.HOST ?? '127.0.0.1',
    port,
    dataDir: resolve(env.OPENCVM_DATA_DIR ?? './.opencvm'),
    databaseUrl: env.DATABASE_URL || undefined,
    apiKey: env.OPENCVM_API_KEY || undefined,
    publicUrl: env.OPENCVM_PUBLIC_URL || undefined,
    hosts,
    simulatedHost: env.OPENCVM_SIMULATED_HOST ? env.OPENCVM_SIMULATED_HOST !== '0' : hosts.length === 0,
    simBootMs: Number(env.OPENCVM_SIM_BOOT_MS ?? 2000),
    provisionTtlMs: 14 * 24 * 3600 * 1000,
    reconcileMs,
    logLevel: env.LOG_LEVEL ?? 'info',
  };
}
