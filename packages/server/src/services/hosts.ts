/**
 * The host registry (the admin API, `/api/v1/admin/hosts…`): adding a dstack-vmm host, reading the
 * registry, cordoning, draining and removing hosts. Who may: `AdminKey`. What a host reports is read from
 * it at add and refresh (`NodeService.report`); what the operator gave wins. Tokens are sealed (auth) or
 * hashed (KMS) before they are stored and never answered.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { ApiError, ErrorCodes, badRequest, conflict, notFound, sha256Hex, type z } from '@opencvm/core';
import type { addHostRequestSchema, Host, patchHostRequestSchema } from '@opencvm/contract';
import type { Db } from '../db/index.ts';
import { HostError } from '../hosts/vmm-client.ts';
import {
  findLiveNode,
  imagesOfNode,
  insertHost,
  liveNodeAtUrl,
  listNodeImages,
  listNodes,
  liveCvmsOfNode,
  lockNodeName,
  lockNodeUrl,
  markNodeOffline,
  markNodeRemoved,
  nodeIdByKmsTokenHash,
  nodeUsage,
  refreshHostFacts,
  replaceNodeImages,
  setNodeCordoned,
  findNodeByName,
  updateHost,
  usageOfNode,
  type NodeCvmRow,
  type NodeImageRow,
  type NodeOverrides,
  type NodeRow,
  type NodeUsageRow,
} from '../store/nodes.ts';
import { simulatedDeviceId, type HostReport, type NodeService } from './nodes.ts';

type AddHostRequest = z.output<typeof addHostRequestSchema>;
type PatchHostRequest = z.output<typeof patchHostRequestSchema>;

/**
 * A host URL as the registry stores and compares it: WHATWG-normalised (scheme and host in lower case, a
 * default port dropped), without a trailing `/`. Two entries for one dstack-vmm would place CVMs on the same
 * machine twice over its capacity, so the registry keeps one per URL.
 */
export const hostUrlOf = (url: string): string => new URL(url).href.replace(/\/+$/, '');

const urlTaken = (url: string, holder: { id: number; name: string }) =>
  conflict(ErrorCodes.HOST_URL_TAKEN,
    `Host ${holder.name} (id ${holder.id}) is registered at ${url} already: one dstack-vmm host is one entry of the registry. Change that host (PATCH /api/v1/admin/hosts/${holder.id}), or remove it first.`);

const kmsTokenTaken = () =>
  conflict(ErrorCodes.HOST_KMS_TOKEN_TAKEN,
    'Another host\'s guests present this kms_token already: give each host a token of its own (e.g. openssl rand -hex 32), as the KMS knows a host by it.');

const normalDeviceId = (id: string) => id.replace(/^0x/i, '').toLowerCase();

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

  async add(body: AddHostRequest): Promise<Host> {
    const req = { ...body, url: hostUrlOf(body.url) };
    if (await findNodeByName(this.db, req.name)) throw this.nameTaken(req.name);
    const atUrl = await liveNodeAtUrl(this.db, req.url);
    if (atUrl) throw urlTaken(req.url, atUrl);
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
      ...(req.device_id !== undefined && { device_id: normalDeviceId(req.device_id) }),
    };
    const f = report.facts;
    const kmsTokenHash = req.kms_token ? sha256Hex(req.kms_token) : null;
    const node = await this.db.tx(async (q) => {
      await lockNodeName(q, req.name);
      await lockNodeUrl(q, req.url);
      if (await findNodeByName(q, req.name)) throw this.nameTaken(req.name);
      const taken = await liveNodeAtUrl(q, req.url);
      if (taken) throw urlTaken(req.url, taken);
      // the KMS tells hosts apart by this token: one per host
      if (kmsTokenHash && (await nodeIdByKmsTokenHash(q, kmsTokenHash)) !== null) throw kmsTokenTaken();
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

  /**
   * Change what the operator sets of a host, in one transaction with its row locked (the lock a commit placing
   * a CVM there takes too, so the capacity check sees every CVM). A new URL or auth token is tried on the host
   * first, and so is dropping an operator's capacity value (the host's own comes back); its report is recorded.
   */
  async patch(host: string, body: PatchHostRequest): Promise<Host> {
    const before = await this.find(host);
    const url = body.url === undefined ? undefined : hostUrlOf(body.url);
    if (url !== undefined && url !== before.url) {
      const atUrl = await liveNodeAtUrl(this.db, url, before.id);
      if (atUrl) throw urlTaken(url, atUrl);
    }
    const cap = body.capacity ?? {};
    const dropped = (['vcpu', 'memory_mb', 'slots', 'gpus'] as const).some((k) => cap[k] === null);
    let report: HostReport | undefined;
    if ((url !== undefined && url !== before.url) || body.auth_token !== undefined || dropped) {
      const to = url ?? before.url;
      const token = body.auth_token === undefined ? this.nodes.authTokenOf(before) : (body.auth_token ?? undefined);
      try {
        report = await this.nodes.report(this.nodes.newClient(before.name, to, token, 10_000));
      } catch (e) {
        if (e instanceof HostError) throw unreachable(before.name, to, e);
        throw e;
      }
    }
    const kmsTokenHash = body.kms_token ? sha256Hex(body.kms_token) : body.kms_token;
    const changed = await this.db.tx(async (q) => {
      if (url !== undefined) await lockNodeUrl(q, url);
      const n = await findLiveNode(q, { id: before.id }, true);
      if (!n) throw hostNotFound(host);
      if (url !== undefined && url !== n.url) {
        const taken = await liveNodeAtUrl(q, url, n.id);
        if (taken) throw urlTaken(url, taken);
      }
      if (kmsTokenHash) {
        const holder = await nodeIdByKmsTokenHash(q, kmsTokenHash);
        if (holder !== null && holder !== Number(n.id)) throw kmsTokenTaken();
      }
      const overrides: NodeOverrides = { ...n.overrides };
      const set = <K extends keyof NodeOverrides>(k: K, v: NodeOverrides[K] | null | undefined) => {
        if (v === null) delete overrides[k];
        else if (v !== undefined) overrides[k] = v;
      };
      set('max_vcpu', cap.vcpu);
      set('max_memory_mb', cap.memory_mb);
      set('max_cvms', cap.slots);
      set('gpus', cap.gpus);
      set('device_id', body.device_id === undefined ? undefined : normalDeviceId(body.device_id));
      set('region', body.region);
      const f = report?.facts;
      // the operator's value if any, else the host's report just read, else what the row holds (the host's last report)
      const pick = <T>(o: T | undefined, reported: T | undefined, current: T) => o ?? reported ?? current;
      const next = {
        url: url ?? n.url,
        ...(body.auth_token === undefined
          ? { auth_token: n.auth_token, auth_token_sealed: n.auth_token_sealed }
          : { auth_token: null, auth_token_sealed: this.nodes.sealAuthToken(body.auth_token) }),
        kms_token_hash: kmsTokenHash === undefined ? n.kms_token_hash : kmsTokenHash,
        region: body.region ?? n.region,
        labels: body.labels ?? n.labels,
        dev: body.dev ?? n.dev,
        onchain_kms: body.onchain_kms ?? n.onchain_kms,
        device_id: overrides.device_id ?? n.device_id,
        max_vcpu: pick(overrides.max_vcpu, f?.max_vcpu, n.max_vcpu),
        max_memory_mb: pick(overrides.max_memory_mb, f?.max_memory_mb, n.max_memory_mb),
        max_cvms: pick(overrides.max_cvms, f?.max_cvms, n.max_cvms),
        max_disk_gb: cap.disk_gb === undefined ? n.max_disk_gb : (cap.disk_gb ?? 0),
        gpus: pick(overrides.gpus, f?.gpus, n.gpus),
        overrides,
        gateway_base_domain: f ? f.gateway_base_domain : n.gateway_base_domain,
        version: f ? f.version : n.version,
        refreshed: !!report,
      };
      checkCapacity(n, next, await usageOfNode(q, n.id));
      const row = await updateHost(q, n.id, next);
      if (report) await replaceNodeImages(q, n.id, report.images);
      return row;
    });
    // its driver is built again with the new URL or token
    this.nodes.forget(changed.id);
    return this.describe(changed);
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

/**
 * A capacity that shrinks below what the live CVMs on the host reserve is refused (409 naming the resource
 * and both figures); one that does not move, or grows, is not checked (0 is "not capped").
 */
function checkCapacity(before: NodeRow, next: Pick<NodeRow, 'max_vcpu' | 'max_memory_mb' | 'max_cvms' | 'max_disk_gb'>, used: NodeUsageRow): void {
  const over = [
    { field: 'capacity.vcpu', what: 'vCPUs', was: before.max_vcpu, to: next.max_vcpu, used: used.vcpu },
    { field: 'capacity.memory_mb', what: 'MB of memory', was: before.max_memory_mb, to: next.max_memory_mb, used: used.memory_mb },
    { field: 'capacity.disk_gb', what: 'GB of disk', was: before.max_disk_gb, to: next.max_disk_gb, used: used.disk_gb },
    { field: 'capacity.slots', what: 'CVM slots', was: before.max_cvms, to: next.max_cvms, used: used.cvms },
  ].filter((c) => c.to !== c.was && c.to > 0 && c.to < c.used);
  if (!over.length) return;
  const what = over.map((c) => `${c.field} ${c.to} is below the ${c.used} ${c.what} they reserve`).join('; ');
  throw conflict(ErrorCodes.HOST_CAPACITY_IN_USE,
    `Host ${before.name} has ${used.cvms} live CVM${used.cvms === 1 ? '' : 's'}: ${what}. Give at least that much, or move CVMs off the host first (POST /api/v1/admin/hosts/${before.id}/drain lists them).`,
    { details: over.map((c) => ({ field: c.field, value: c.to, message: `${c.used} ${c.what} reserved by live CVMs` })) });
}

async function liveUsage(db: Db, nodeId: number): Promise<NodeUsageRow | undefined> {
  return (await nodeUsage(db)).find((u) => u.node_id === nodeId);
}

/** A `nodes` row as the admin API answers it: no token, only whether one is set. */
function hostOf(n: NodeRow, images: NodeImageRow[], used: NodeUsageRow | undefined): Host {
  const overridden = (['max_vcpu', 'max_memory_mb', 'max_cvms', 'gpus', 'device_id', 'region'] as const)
    .filter((k) => (n.overrides as Record<string, unknown>)[k] !== undefined)
    .map((k) => ({ max_vcpu: 'vcpu', max_memory_mb: 'memory_mb', max_cvms: 'slots', gpus: 'gpus', device_id: 'device_id', region: 'region' } as const)[k]);
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
