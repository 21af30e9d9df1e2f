/**
 * The host registry (the admin API, `/api/v1/admin/hosts…`): adding a dstack-vmm host, reading the
 * registry, cordoning, draining and removing hosts. Who may: `AdminKey`. What a host reports is read from
 * it at add and refresh (`NodeService.report`); what the operator gave wins. Tokens are sealed (auth) or
 * hashed (KMS) before they are stored and never answered.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { ApiError, ErrorCodes, badRequest, conflict, notFound, sha256Hex, type z } from '@opencvm/core';
import type { addHostRequestSchema, Host } from '@opencvm/contract';
import type { Db } from '../db/index.ts';
import { HostError } from '../hosts/vmm-client.ts';
import {
  findLiveNode,
  imagesOfNode,
  insertHost,
  listNodeImages,
  listNodes,
  liveCvmsOfNode,
  lockNodeName,
  markNodeOffline,
  markNodeRemoved,
  nodeIdByKmsTokenHash,
  nodeUsage,
  refreshHostFacts,
  replaceNodeImages,
  setNodeCordoned,
  findNodeByName,
  type NodeCvmRow,
  type NodeImageRow,
  type NodeOverrides,
  type NodeRow,
  type NodeUsageRow,
} from '../store/nodes.ts';
import { simulatedDeviceId, type NodeService } from './nodes.ts';

type AddHostRequest = z.output<typeof addHostRequestSchema>;

const sha256 = (text: string) => createHash('sha256').update(text).digest();

/** The admin key check: `X-Admin-Key` against `OPENCVM_ADMIN_KEY`, compared by hash in constant time. */
export class AdminKey {
  private readonly hash?: Buffer;

  constructor(key: string | undefined) {
    this.hash = key ? sha256(key) : undefined;
  }

  /** 403 without an admin key configured; 401 for a missing or wrong one. */
  authorize(sent: string | undefined): void {
    if (!this.hash) {
      throw new ApiError(403, ErrorCodes.ADMIN_API_DISABLED,
        'The host admin API is off on this server: start it with OPENCVM_ADMIN_KEY set (at least 16 characters, e.g. openssl rand -hex 32) and send that key as X-Admin-Key.');
    }
    if (sent && timingSafeEqual(sha256(sent), this.hash)) return;
    throw new ApiError(401, ErrorCodes.ADMIN_KEY_INVALID,
      `${sent ? 'This is not the admin key' : 'The host admin API needs the admin key'}: send the value of the server's OPENCVM_ADMIN_KEY as X-Admin-Key (a workspace API key is not an admin key).`);
  }
}

/** `{host}`: a number is an id, anything else a name. */
const refOf = (host: string): { id: number } | { name: string } => (/^\d{1,15}$/.test(host) ? { id: Number(host) } : { name: host });

const hostNotFound = (host: string) =>
  notFound(ErrorCodes.HOST_NOT_FOUND, `No host "${host}" is registered: list the hosts with GET /api/v1/admin/hosts (a host is named by its id or its name).`);

/** A host error as the operator reads it (the driver's message names the method, never a token). */
const unreachable = (name: string, url: string, e: unknown) =>
  badRequest(ErrorCodes.HOST_UNREACHABLE,
    `Host ${name} at ${url} did not answer as a dstack-vmm host: ${(e as Error).message}. Check the URL (dstack-vmm's listen address, e.g. http://10.0.0.5:9080) and the auth token (one of its [auth] tokens).`);

export class HostService {
  constructor(
    private readonly db: Db,
    private readonly nodes: NodeService,
  ) {}

  async add(req: AddHostRequest): Promise<Host> {
    if (await findNodeByName(this.db, req.name)) throw this.nameTaken(req.name);
    const client = this.nodes.newClient(req.name, req.url, req.auth_token, 10_000);
    let report;
    try {
      report = await this.nodes.report(client);
    } catch (e) {
      if (e instanceof HostError) throw unreachable(req.name, req.url, e);
      throw e;
    }
    const cap = req.capacity;
    const overrides: NodeOverrides = {
      ...(cap.vcpu !== undefined && { max_vcpu: cap.vcpu }),
      ...(cap.memory_mb !== undefined && { max_memory_mb: cap.memory_mb }),
      ...(cap.slots !== undefined && { max_cvms: cap.slots }),
      ...(cap.gpus !== undefined && { gpus: cap.gpus }),
      ...(req.device_id !== undefined && { device_id: req.device_id.replace(/^0x/i, '').toLowerCase() }),
    };
    const f = report.facts;
    const kmsTokenHash = req.kms_token ? sha256Hex(req.kms_token) : null;
    const node = await this.db.tx(async (q) => {
      await lockNodeName(q, req.name);
      if (await findNodeByName(q, req.name)) throw this.nameTaken(req.name);
      // the KMS tells hosts apart by this token: one per host
      if (kmsTokenHash && (await nodeIdByKmsTokenHash(q, kmsTokenHash)) !== null) {
        throw conflict(ErrorCodes.HOST_KMS_TOKEN_TAKEN,
          'Another host\'s guests present this kms_token already: give each host a token of its own (e.g. openssl rand -hex 32), as the KMS knows a host by it.');
      }
      const n = await insertHost(q, {
        name: req.name,
        url: req.url,
        auth_token_sealed: this.nodes.sealAuthToken(req.auth_token),
        kms_token_hash: kmsTokenHash,
        region: req.region,
        labels: req.labels,
        device_id: overrides.device_id ?? simulatedDeviceId(req.name),
        ppid: sha256Hex(`ppid:${req.name}`).slice(0, 32),
        gateway_base_domain: f.gateway_base_domain,
        max_cvms: overrides.max_cvms ?? f.max_cvms,
        max_vcpu: overrides.max_vcpu ?? f.max_vcpu,
        max_memory_mb: overrides.max_memory_mb ?? f.max_memory_mb,
        max_disk_gb: cap.disk_gb ?? 0,
        gpus: overrides.gpus ?? f.gpus,
        version: f.version,
        dev: req.dev,
        onchain_kms: req.onchain_kms,
        overrides,
      });
      await replaceNodeImages(q, n.id, report.images);
      return n;
    });
    return this.describe(node);
  }

  async list(): Promise<{ items: Host[]; total: number }> {
    const [nodes, images, usage] = await Promise.all([listNodes(this.db), listNodeImages(this.db), nodeUsage(this.db)]);
    const used = new Map(usage.map((u) => [u.node_id, u]));
    const items = nodes.map((n) => hostOf(n, images.filter((i) => i.node_id === n.id), used.get(n.id)));
    return { items, total: items.length };
  }

  async get(host: string): Promise<Host> {
    return this.describe(await this.find(host));
  }

  /** Read what the host reports again; one that does not answer is marked offline and the answer says so. */
  async refresh(host: string): Promise<Host> {
    const node = await this.find(host);
    let report;
    try {
      report = await this.nodes.report(await this.nodes.client(node.id));
    } catch (e) {
      if (!(e instanceof HostError)) throw e;
      await markNodeOffline(this.db, node.name);
      throw unreachable(node.name, node.url, e);
    }
    const refreshed = await this.db.tx(async (q) => {
      const n = await refreshHostFacts(q, node.id, report.facts);
      await replaceNodeImages(q, node.id, report.images);
      return n;
    });
    return this.describe(refreshed);
  }

  async cordon(host: string, cordoned: boolean): Promise<Host> {
    const node = await this.find(host);
    const changed = await setNodeCordoned(this.db, node.id, cordoned);
    if (!changed) throw hostNotFound(host);
    return this.describe(changed);
  }

  /** Cordon, and report the live CVMs still on the host; nothing is moved. */
  async drain(host: string): Promise<{ host: Host; cvms: NodeCvmRow[]; message: string }> {
    const h = await this.cordon(host, true);
    const cvms = await liveCvmsOfNode(this.db, h.id);
    const message = cvms.length
      ? `Host ${h.name} is cordoned; ${cvms.length} live CVM${cvms.length === 1 ? '' : 's'} still run${cvms.length === 1 ? 's' : ''} there: nothing is moved by a drain — delete or re-deploy ${cvms.length === 1 ? 'it' : 'them'} elsewhere, then remove the host.`
      : `Host ${h.name} is cordoned and has no live CVM: it can be removed.`;
    return { host: h, cvms, message };
  }

  /** Remove a host without live CVMs (409 naming them otherwise), in one transaction with its row locked. */
  async remove(host: string): Promise<Host> {
    const ref = refOf(host);
    const removed = await this.db.tx(async (q) => {
      // the row lock makes a commit placing a CVM here (which locks it too) finish before or fail after
      const node = await findLiveNode(q, ref, true);
      if (!node) throw hostNotFound(host);
      const cvms = await liveCvmsOfNode(q, node.id);
      if (cvms.length) {
        const shown = cvms.slice(0, 5).map((c) => `${c.name} (${c.vm_uuid})`).join(', ');
        throw conflict(ErrorCodes.HOST_HAS_CVMS,
          `Host ${node.name} still has ${cvms.length} live CVM${cvms.length === 1 ? '' : 's'}: ${shown}${cvms.length > 5 ? `, and ${cvms.length - 5} more` : ''}. ` +
            `Cordon it (POST /api/v1/admin/hosts/${node.id}/drain lists them), delete or re-deploy them elsewhere, then remove it.`,
          { details: cvms.slice(0, 50).map((c) => ({ field: 'cvm', value: c.vm_uuid, message: c.name })) });
      }
      return markNodeRemoved(q, node.id);
    });
    this.nodes.forget(removed.id);
    return hostOf(removed, [], undefined);
  }

  private async find(host: string): Promise<NodeRow> {
    const node = await findLiveNode(this.db, refOf(host));
    if (!node) throw hostNotFound(host);
    return node;
  }

  private async describe(node: NodeRow): Promise<Host> {
    const [images, usage] = await Promise.all([imagesOfNode(this.db, node.id), liveUsage(this.db, node.id)]);
    return hostOf(node, images, usage);
  }

  private nameTaken(name: string): ApiError {
    return conflict(ErrorCodes.HOST_NAME_TAKEN, `A host named "${name}" is registered already: choose another name, or remove that host first (DELETE /api/v1/admin/hosts/${name}).`);
  }
}

async function liveUsage(db: Db, nodeId: number): Promise<NodeUsageRow | undefined> {
  return (await nodeUsage(db)).find((u) => u.node_id === nodeId);
}

/** A `nodes` row as the admin API answers it: no token, only whether one is set. */
function hostOf(n: NodeRow, images: NodeImageRow[], used: NodeUsageRow | undefined): Host {
  const overridden = (['max_vcpu', 'max_memory_mb', 'max_cvms', 'gpus', 'device_id'] as const)
    .filter((k) => (n.overrides as Record<string, unknown>)[k] !== undefined)
    .map((k) => ({ max_vcpu: 'vcpu', max_memory_mb: 'memory_mb', max_cvms: 'slots', gpus: 'gpus', device_id: 'device_id' } as const)[k]);
  return {
    id: Number(n.id),
    name: n.name,
    url: n.url,
    region: n.region,
    labels: n.labels,
    status: n.status,
    unreachable_since: n.unreachable_since ? new Date(n.unreachable_since).toISOString() : null,
    last_error: n.last_error,
    cordoned: n.cordoned,
    dev: n.dev,
    onchain_kms: n.onchain_kms,
    device_id: n.device_id,
    version: n.version,
    gateway_base_domain: n.gateway_base_domain,
    source: n.source,
    capacity: { vcpu: n.max_vcpu, memory_mb: n.max_memory_mb, disk_gb: n.max_disk_gb, slots: n.max_cvms, gpus: n.gpus },
    overridden,
    used: { cvms: used?.cvms ?? 0, vcpu: used?.vcpu ?? 0, memory_mb: used?.memory_mb ?? 0, disk_gb: used?.disk_gb ?? 0 },
    images: images.map((i) => ({ name: i.name, version: i.version, is_dev: i.is_dev, requires_gpu: i.requires_gpu })),
    auth_token_set: !!(n.auth_token_sealed || n.auth_token),
    kms_token_set: !!n.kms_token_hash,
    refreshed_at: n.refreshed_at ? new Date(n.refreshed_at).toISOString() : null,
    created_at: new Date(n.created_at).toISOString(),
  };
}
