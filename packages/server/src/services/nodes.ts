/**
 * dstack hosts ("nodes", "teepods" in Phala's words): registration, their images and capacity, and the
 * driver for each. Host facts are read from the host itself (GetMeta, ListImages) when it registers.
 */
import { sha256Hex } from '@opencvm/core';
import type { Db } from '../db/index.ts';
import { ConfigError, type HostConfig } from '../config.ts';
import { HostError, VmmClient, type HostCallObserver } from '../hosts/vmm-client.ts';
import { findNode, findNodeByName, listNodeImages, lockNodeName, listNodes, markNodeOffline, replaceNodeImages, upsertNode, type NodeImageRow, type NodeRow } from '../store/nodes.ts';

/** Whether a host answers at `url` (a short wait: this is asked while registering). */
async function answersAsHost(url: string, authToken: string | null): Promise<boolean> {
  try {
    await new VmmClient(url, authToken ?? undefined, 3000).getMeta();
    return true;
  } catch (e) {
    // an answer, even a refusal (a wrong token), is a host there
    return e instanceof HostError && e.reachable;
  }
}

/** The device id a host without TDX reports: stable per host name. */
export const simulatedDeviceId = (name: string) => sha256Hex(`opencvm-simulated-device:${name}`);

export class NodeService {
  private clients = new Map<number, VmmClient>();

  constructor(
    private readonly db: Db,
    /** told of every host call, by node name (the server's metrics) */
    private readonly observe?: (node: string) => HostCallObserver,
  ) {}

  private newClient(name: string, url: string, authToken: string | undefined): VmmClient {
    return new VmmClient(url, authToken, undefined, this.observe?.(name));
  }

  /**
   * Upsert a host and refresh what it says about itself. Throws if the host cannot be reached, and a
   * `ConfigError` if its name is registered at another URL that still answers as a host: two servers of
   * one database configured with different hosts under one name (typically each running its own simulated
   * host, `sim-1`) would otherwise take the name from each other at every start, and the CVMs on it would
   * be looked for on the wrong host.
   */
  async register(host: HostConfig & { deviceId?: string }): Promise<NodeRow> {
    const client = this.newClient(host.name, host.url, host.authToken);
    const [meta, images, version] = await Promise.all([client.getMeta(), client.listImages(), client.version()]);
    return this.db.tx(async (q) => {
      await lockNodeName(q, host.name);
      const known = await findNodeByName(q, host.name);
      if (known && known.url !== host.url && (await answersAsHost(known.url, known.auth_token))) {
        throw new ConfigError(
          `host name "${host.name}" is registered at ${known.url}, which still answers, and this server would register it at ${host.url}: ` +
            'servers sharing a database must name each host once, at one URL. With several servers, run one simulated host ' +
            '(npm run sim) and give every server OPENCVM_HOSTS=<name>=<its URL> and OPENCVM_SIMULATED_HOST=0 (README: "Running several replicas")',
        );
      }
      const node = await upsertNode(q, {
        name: host.name,
        url: host.url,
        auth_token: host.authToken ?? null,
        kms_token_hash: host.kmsToken ? sha256Hex(host.kmsToken) : null,
        region: host.region ?? 'local',
        device_id: host.deviceId ?? simulatedDeviceId(host.name),
        ppid: sha256Hex(`ppid:${host.name}`).slice(0, 32),
        gateway_base_domain: meta.gateway.base_domain || null,
        max_cvms: meta.resources.max_cvm_number,
        max_vcpu: meta.resources.max_allocable_vcpu,
        max_memory_mb: meta.resources.max_allocable_memory_in_mb,
        version: version.version || null,
      });
      await replaceNodeImages(
        q,
        node.id,
        images.map((img) => {
          let desc: Record<string, unknown> = {};
          try {
            desc = JSON.parse(img.description || '{}');
          } catch {
            /* a host may describe an image in free text */
          }
          return { name: img.name, version: img.version, is_dev: img.is_dev, requires_gpu: desc.requires_gpu === true, os_image_hash: (desc.os_image_hash as string) ?? null };
        }),
      );
      this.clients.delete(node.id);
      return node;
    });
  }

  async markOffline(name: string): Promise<void> {
    await markNodeOffline(this.db, name);
  }

  /** The pRPC driver for a node. */
  async client(nodeId: number): Promise<VmmClient> {
    let c = this.clients.get(nodeId);
    if (!c) {
      const n = await findNode(this.db, nodeId);
      if (!n) throw new Error(`node ${nodeId} is not registered`);
      c = this.newClient(n.name, n.url, n.auth_token ?? undefined);
      this.clients.set(nodeId, c);
    }
    return c;
  }

  list(): Promise<NodeRow[]> {
    return listNodes(this.db);
  }

  images(): Promise<NodeImageRow[]> {
    return listNodeImages(this.db);
  }
}
