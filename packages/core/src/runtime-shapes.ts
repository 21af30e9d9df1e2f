/**
 * What a running CVM reports about itself (its guest agent: containers, SysInfo, NetworkInfo), as the
 * control plane keeps it (`cvms.runtime`), and the three reads built from it: `GET /cvms/{id}/composition`,
 * `/stats` and `/network`. Pure: the store is read elsewhere.
 */
import type { compositionSchema, networkSchema, prpc, statsSchema, z } from '@opencvm/contract';
import { composeFlags, gatewayUrls, type CvmView } from './shapes.ts';

export { publishedPorts } from './published-ports.ts';

/** One container as the guest agent's `ListContainers` reports it (dstack's `guest-api/proto/guest_api.proto`). */
export type GuestContainer = prpc.GuestContainer;
export type GuestNetwork = prpc.GuestNetwork;

/**
 * `cvms.runtime`: the last snapshot the reconciler (or the worker after a boot) read from the guest.
 * `attempted_at`/`error` record the last try, also when it failed (the snapshot then stays as it was).
 */
export interface RuntimeSnapshot {
  containers: GuestContainer[];
  sysinfo: Record<string, unknown> | null;
  network: GuestNetwork | null;
  refreshed_at: string;
  attempted_at?: string;
  error?: string | null;
}

/** A container's name as clients match it (`/web` → `web`). */
export const containerName = (c: Pick<GuestContainer, 'names' | 'id'>) => (c.names[0] ?? c.id).replace(/^\//, '');

/** The snapshot counts only for a running CVM, and only if it was read during the current boot. */
function liveRuntime(c: CvmView, rt: RuntimeSnapshot | null): RuntimeSnapshot | null {
  if (c.status !== 'running' || !rt?.refreshed_at || !Array.isArray(rt.containers)) return null;
  if (c.started_at && Date.parse(rt.refreshed_at) < c.started_at.getTime() - 1000) return null;
  return rt;
}

/** Why there is nothing live to show, in words a person can act on. */
function offlineReason(c: CvmView, what: string, rt: RuntimeSnapshot | null): string {
  switch (c.status) {
    case 'running':
      return rt?.error
        ? `CVM ${c.name} is running, but its guest agent did not answer (${rt.error}); it is asked again shortly.`
        : `CVM ${c.name} is running, but its ${what} have not been read from the guest yet: try again in a few seconds.`;
    case 'starting':
    case 'restarting':
      return `CVM ${c.name} is ${c.status} (boot step: ${c.boot_progress ?? 'queued'}); its ${what} are shown once it is running.`;
    case 'exited':
      return `CVM ${c.name} has exited${c.boot_error ? `: ${c.boot_error}` : ''}. Start it again to see its ${what}.`;
    case 'stopped':
      return `CVM ${c.name} is stopped: start it to see its ${what}.`;
    case 'error':
      return `CVM ${c.name} is in error${c.boot_error ? `: ${c.boot_error}` : ''}.`;
    default:
      return `CVM ${c.name} is ${c.status}; its ${what} are shown only while it is running.`;
  }
}

/** `GET /cvms/{id}/composition` (`CvmContainersStatsSchema`, SDK `getCvmContainersStats`). */
export function compositionShape(c: CvmView, runtime: RuntimeSnapshot | null, logEndpoint: (container: string) => string | null): z.input<typeof compositionSchema> {
  const f = composeFlags(c.app_compose);
  const rt = liveRuntime(c, runtime);
  return {
    is_online: rt !== null,
    is_public: f.public_logs,
    error: rt ? null : offlineReason(c, 'containers', runtime),
    docker_compose_file: f.docker_compose_file,
    manifest_version: f.manifest_version,
    version: '1.0.0',
    runner: f.runner,
    features: f.features,
    containers: rt
      ? rt.containers.map((k) => ({
          id: k.id,
          names: k.names,
          image: k.image,
          image_id: k.image_id,
          command: k.command ?? null,
          created: k.created,
          state: k.state,
          status: k.status,
          log_endpoint: logEndpoint(containerName(k)),
        }))
      : null,
  };
}

/** `GET /cvms/{id}/stats` (`CvmSystemInfoSchema`, SDK `getCvmStats`). */
export function statsShape(c: CvmView, runtime: RuntimeSnapshot | null): z.input<typeof statsSchema> {
  const rt = liveRuntime(c, runtime);
  const sysinfo = rt?.sysinfo ?? null;
  return {
    is_online: sysinfo !== null,
    is_public: composeFlags(c.app_compose).public_sysinfo,
    error: sysinfo ? null : offlineReason(c, 'system figures', runtime),
    sysinfo,
    status: c.status,
    in_progress: c.progress !== null,
    boot_progress: c.boot_progress,
    boot_error: c.boot_error,
  };
}

/** `GET /cvms/{id}/network` (`CvmNetworkSchema`, SDK `getCvmNetwork`). */
export function networkShape(c: CvmView, runtime: RuntimeSnapshot | null): z.input<typeof networkSchema> {
  const f = composeFlags(c.app_compose);
  const rt = liveRuntime(c, runtime);
  const net = rt?.network ?? null;
  return {
    is_online: net !== null,
    is_public: f.public_sysinfo,
    error: net ? null : offlineReason(c, 'network details', runtime),
    internal_ip: net ? internalIp(net) : null,
    latest_handshake: net?.wg_info?.match(/latest handshake:\s*(.+)/)?.[1]?.trim() ?? null,
    public_urls: gatewayUrls(c, f),
  };
}

/** The CVM's address on the gateway's WireGuard network, else its first non-loopback address. */
function internalIp(net: GuestNetwork): string | null {
  const ifaces = net.interfaces ?? [];
  const pick = ifaces.find((i) => i.name === 'wg0') ?? ifaces.find((i) => i.name !== 'lo' && i.addresses?.length);
  return pick?.addresses?.[0]?.address ?? null;
}
