/**
 * dstack hosts ("nodes", "teepods" in Phala's words): registration, their images and capacity, and the
 * driver for each. Host facts are read from the host itself (GetMeta, ListImages, ListGpus) when it
 * registers. A host's auth token is kept sealed with the server's seal key (`seal.ts`) and opened only to
 * build its driver.
 */
import { sha256Hex } from '@opencvm/core';
import type { Db } from '../db/index.ts';
import { ConfigError, type HostConfig } from '../config.ts';
import { HostError, VmmClient, type HostCallObserver, type HostImage } from '../hosts/vmm-client.ts';
import {
  findNode,
  findNodeByName,
  listNodeImages,
  lockNodeName,
  listNodes,
  markNodeOffline,
  nodesWithPlainAuthToken,
  replaceNodeImages,
  sealNodeAuthToken,
  upsertNode,
  type HostFacts,
  type NodeGpu,
  type NodeImageRow,
  type NodeRow,
} from '../store/nodes.ts';
import { seal, unseal } from './seal.ts';

/** Bound into a sealed auth token (GCM's associated data). */
const AUTH_TOKEN_PURPOSE = 'opencvm host auth token v1';

/** What a host reports of itself: its facts for the `nodes` row, and its images. */
export interface HostReport {
  facts: HostFacts;
  images: Omit<NodeImageRow, 'node_id'>[];
}

/** A host's images as `node_images` rows (dstack-vmm describes each in its `description`, JSON when it can). */
function imageRowsOf(images: HostImage[]): Omit<NodeImageRow, 'node_id'>[] {
  return images.map((img) => {
    let desc: Record<string, unknown> = {};
    try {
      desc = JSON.parse(img.description || '{}');
    } catch {
      /* a host may describe an image in free text */
    }
    return { name: img.name, version: img.version, is_dev: img.is_dev, requires_gpu: desc.requires_gpu === true, os_image_hash: typeof desc.os_image_hash === 'string' ? desc.os_image_hash : null };
  });
}

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
    /** the server's seal key: host auth tokens are stored sealed with it */
    private readonly sealKey: Buffer,
    /** told of every host call, by node name (the server's metrics) */
    private readonly observe?: (node: string) => HostCallObserver,
  ) {}

  newClient(name: string, url: string, authToken: string | undefined, timeoutMs?: number): VmmClient {
    return new VmmClient(url, authToken, timeoutMs, this.observe?.(name));
  }

  /** An auth token as the `nodes` row keeps it. */
  sealAuthToken(token: string | undefined | null): string | null {
    return token ? seal(Buffer.from(token), this.sealKey, AUTH_TOKEN_PURPOSE) : null;
  }

  /** The auth token of a row (sealed, or plaintext as an earlier version wrote it). */
  authTokenOf(n: Pick<NodeRow, 'name' | 'auth_token' | 'auth_token_sealed'>): string | undefined {
    if (n.auth_token_sealed) {
      const plain = unseal(n.auth_token_sealed, this.sealKey, AUTH_TOKEN_PURPOSE);
      // the KMS root keys opened with this seal key at start, so this is a row written with another one
      if (!plain) throw new Error(`the auth token of host ${n.name} does not open with this server's seal key`);
      return plain.toString('utf8');
    }
    return n.auth_token ?? undefined;
  }

  /** Seal the auth tokens earlier versions stored in plaintext (at start; each row once). */
  async sealPlainAuthTokens(): Promise<number> {
    const rows = await nodesWithPlainAuthToken(this.db);
    for (const r of rows) await sealNodeAuthToken(this.db, r.id, r.auth_token!, this.sealAuthToken(r.auth_token)!);
    return rows.length;
  }

  /**
   * Ask a host what it is: GetMeta (capacity, gateway), ListImages, ListGpus (a host whose dstack-vmm has no
   * ListGpus, or answers it with an error, reports none), Version. Throws the driver's `HostError`.
   */
  async report(client: VmmClient): Promise<HostReport> {
    const gpus = client.listGpus().catch((e: unknown): NodeGpu[] => {
      if (e instanceof HostError && e.reachable) return [];
      throw e;
    });
    const [meta, images, gpuList, version] = await Promise.all([client.getMeta(), client.listImages(), gpus, client.version()]);
    return {
      facts: {
        gateway_base_domain: meta.gateway.base_domain || null,
        max_cvms: meta.resources.max_cvm_number,
        max_vcpu: meta.resources.max_allocable_vcpu,
        max_memory_mb: meta.resources.max_allocable_memory_in_mb,
        gpus: gpuList.map((g) => ({ slot: g.slot, product_id: g.product_id, description: g.description })),
        version: version.version || null,
      },
      images: imageRowsOf(images),
    };
  }

  /** Forget a node's driver (its URL or token changed, or it was removed). */
  forget(nodeId: number): void {
    this.clients.delete(nodeId);
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
    const { facts, images } = await this.report(client);
    return this.db.tx(async (q) => {
      await lockNodeName(q, host.name);
      const known = await findNodeByName(q, host.name);
      if (known && known.url !== host.url && (await answersAsHost(known.url, this.authTokenOf({ name: host.name, ...known }) ?? null))) {
        throw new ConfigError(
          `host name "${host.name}" is registered at ${known.url}, which still answers, and this server would register it at ${host.url}: ` +
            'servers sharing a database must name each host once, at one URL. With several servers, run one simulated host ' +
            '(npm run sim) and give every server OPENCVM_HOSTS=<name>=<its URL> and OPENCVM_SIMULATED_HOST=0 (README: "Running several replicas")',
        );
      }
      const node = await upsertNode(q, {
        name: host.name,
        url: host.url,
        auth_token_sealed: this.sealAuthToken(host.authToken),
        kms_token_hash: host.kmsToken ? sha256Hex(host.kmsToken) : null,
        region: host.region ?? null,
        device_id: host.deviceId ?? simulatedDeviceId(host.name),
        ppid: sha256Hex(`ppid:${host.name}`).slice(0, 32),
        ...facts,
      });
      await replaceNodeImages(q, node.id, images);
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
      c = this.newClient(n.name, n.url, this.authTokenOf(n));
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
