/**
 * dstack hosts ("nodes", "teepods" in Phala's words): registration, their images and capacity, and the
 * driver for each. Host facts are read from the host itself (GetMeta, ListImages) when it registers.
 */
import { sha256Hex } from '@opencvm/core';
import type { Db } from '../db/index.ts';
import type { HostConfig } from '../config.ts';
import { VmmClient } from '../hosts/vmm-client.ts';

export interface NodeRow {
  id: number;
  name: string;
  url: string;
  auth_token: string | null;
  region: string;
  device_id: string;
  ppid: string;
  fmspc: string;
  gateway_base_domain: string | null;
  max_cvms: number;
  max_vcpu: number;
  max_memory_mb: number;
  listed: boolean;
  status: string;
  version: string | null;
}

export interface NodeImageRow {
  node_id: number;
  name: string;
  version: string;
  is_dev: boolean;
  requires_gpu: boolean;
  os_image_hash: string | null;
}

/** The device id a host without TDX reports: stable per host name. */
export const simulatedDeviceId = (name: string) => sha256Hex(`opencvm-simulated-device:${name}`);

export class NodeService {
  private clients = new Map<number, VmmClient>();

  constructor(private readonly db: Db) {}

  /** Upsert a host and refresh what it says about itself. Throws if the host cannot be reached. */
  async register(host: HostConfig & { deviceId?: string }): Promise<NodeRow> {
    const client = new VmmClient(host.url, host.authToken);
    const [meta, images, version] = await Promise.all([client.getMeta(), client.listImages(), client.version()]);
    return this.db.tx(async (q) => {
      const [node] = await q.query<NodeRow>(
        `INSERT INTO nodes (name, url, auth_token, kms_token_hash, region, device_id, ppid, fmspc, gateway_base_domain,
                            max_cvms, max_vcpu, max_memory_mb, status, version)
         VALUES ($1, $2, $3, $4, $5, $6, $7, '00906ED50000', $8, $9, $10, $11, 'online', $12)
         ON CONFLICT (name) DO UPDATE SET url = EXCLUDED.url, auth_token = EXCLUDED.auth_token,
           kms_token_hash = EXCLUDED.kms_token_hash, region = EXCLUDED.region, device_id = EXCLUDED.device_id,
           gateway_base_domain = EXCLUDED.gateway_base_domain, max_cvms = EXCLUDED.max_cvms,
           max_vcpu = EXCLUDED.max_vcpu, max_memory_mb = EXCLUDED.max_memory_mb, status = 'online',
           version = EXCLUDED.version
         RETURNING *`,
        [
          host.name,
          host.url,
          host.authToken ?? null,
          host.kmsToken ? sha256Hex(host.kmsToken) : null,
          host.region ?? 'local',
          host.deviceId ?? simulatedDeviceId(host.name),
          sha256Hex(`ppid:${host.name}`).slice(0, 32),
          meta.gateway.base_domain || null,
          meta.resources.max_cvm_number,
          meta.resources.max_allocable_vcpu,
          meta.resources.max_allocable_memory_in_mb,
          version.version || null,
        ],
      );
      await q.query('DELETE FROM node_images WHERE node_id = $1', [node.id]);
      for (const img of images) {
        let desc: Record<string, unknown> = {};
        try {
          desc = JSON.parse(img.description || '{}');
        } catch {
          /* a host may describe an image in free text */
        }
        await q.query(
          `INSERT INTO node_images (node_id, name, version, is_dev, requires_gpu, os_image_hash) VALUES ($1, $2, $3, $4, $5, $6)`,
          [node.id, img.name, img.version, img.is_dev, desc.requires_gpu === true, (desc.os_image_hash as string) ?? null],
        );
      }
      this.clients.delete(node.id);
      return node;
    });
  }

  async markOffline(name: string): Promise<void> {
    await this.db.query(`UPDATE nodes SET status = 'offline' WHERE name = $1`, [name]);
  }

  /** The pRPC driver for a node. */
  async client(nodeId: number): Promise<VmmClient> {
    let c = this.clients.get(nodeId);
    if (!c) {
      const [n] = await this.db.query<NodeRow>('SELECT * FROM nodes WHERE id = $1', [nodeId]);
      if (!n) throw new Error(`node ${nodeId} is not registered`);
      c = new VmmClient(n.url, n.auth_token ?? undefined);
      this.clients.set(nodeId, c);
    }
    return c;
  }

  list(): Promise<NodeRow[]> {
    return this.db.query<NodeRow>('SELECT * FROM nodes ORDER BY id');
  }

  images(): Promise<NodeImageRow[]> {
    return this.db.query<NodeImageRow>('SELECT * FROM node_images ORDER BY name, node_id');
  }
}
