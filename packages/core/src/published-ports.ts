/**
 * The TCP ports a CVM's docker compose publishes (what the dstack-gateway URLs `<id>-<port>.<base_domain>` are made of), and
 * the same memoised by compose hash so that `GET /cvms/{id}` and list pages do not parse YAML on every read.
 */
import { parse as parseYaml } from 'yaml';

const MAX_RANGE = 100;

/**
 * The TCP ports a docker compose file publishes inside the CVM (the host side of each `ports` entry; the
 * gateway forwards to those). A container-only entry (`"80"`) gets an ephemeral port and is skipped, as
 * are UDP entries (the gateway proxies TCP). Unparseable YAML publishes nothing.
 */
export function publishedPorts(composeYaml: string): number[] {
  let doc: unknown;
  try {
    doc = parseYaml(composeYaml);
  } catch {
    return [];
  }
  const services = (doc as { services?: Record<string, { ports?: unknown }> } | null)?.services;
  if (!services || typeof services !== 'object') return [];
  const ports = new Set<number>();
  const addRange = (spec: string) => {
    const m = /^(\d+)(?:-(\d+))?$/.exec(spec.trim());
    if (!m) return;
    const from = Number(m[1]);
    const to = m[2] ? Math.min(Number(m[2]), from + MAX_RANGE - 1) : from;
    for (let p = from; p <= to; p++) if (p > 0 && p < 65536) ports.add(p);
  };
  for (const svc of Object.values(services)) {
    const list = svc && typeof svc === 'object' && Array.isArray(svc.ports) ? svc.ports : [];
    for (const entry of list) {
      if (entry && typeof entry === 'object') {
        const e = entry as { published?: unknown; protocol?: unknown };
        if (e.protocol === 'udp' || e.published === undefined || e.published === null) continue;
        addRange(String(e.published));
      } else if (typeof entry === 'string') {
        const [spec, proto] = entry.split('/');
        if (proto === 'udp') continue;
        // [ip:]host:container, with IPv6 addresses in brackets
        const parts = spec.replace(/^\[[^\]]*\]:/, 'ip:').split(':');
        if (parts.length < 2) continue;
        addRange(parts[parts.length - 2]);
      }
    }
  }
  return [...ports].sort((a, b) => a - b);
}

/** How many compose hashes `publishedPortsOf` remembers; beyond that the least recently used is dropped. */
export const PUBLISHED_PORTS_CACHE_LIMIT = 1000;

const cache = new Map<string, readonly number[]>();

/**
 * `publishedPorts` of the compose whose app-compose hashes to `composeHash`, parsed once per hash: the hash
 * is SHA-256 of the exact app-compose text, which holds the docker compose, so the same hash means the same
 * ports. Later reads are a map lookup. The answer is frozen (it is shared by every caller).
 */
export function publishedPortsOf(composeHash: string, composeYaml: string): readonly number[] {
  if (!composeHash) return Object.freeze(publishedPorts(composeYaml));
  const hit = cache.get(composeHash);
  if (hit) {
    // most recently used goes last, so eviction (from the front) drops the least recently used
    cache.delete(composeHash);
    cache.set(composeHash, hit);
    return hit;
  }
  const ports = Object.freeze(publishedPorts(composeYaml));
  if (cache.size >= PUBLISHED_PORTS_CACHE_LIMIT) cache.delete(cache.keys().next().value!);
  cache.set(composeHash, ports);
  return ports;
}

/** How many hashes the cache holds now (for tests). */
export const publishedPortsCacheSize = () => cache.size;
