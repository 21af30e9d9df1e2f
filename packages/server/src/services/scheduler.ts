/**
 * Placement: which host ("node") a new CVM goes to, which OS image it boots and which of the host's GPU slots
 * it gets. A host takes a CVM only if it is online, not cordoned, in the region asked, carries every label
 * asked, takes on-chain KMS apps if the CVM's KMS is on a chain, has the image (a production image never goes
 * to a dev host), has enough free GPUs of the product asked, and has the slots, vCPUs, memory and disk free.
 * Free means the host's capacity minus what its live CVMs are *allocated* (not what the host reports free).
 * Among the hosts that fit, the one with the fewest CVMs of the same app wins (replicas spread), then the one
 * with the most free memory. When none fits, the refusal names, per constraint, how many hosts it excluded and
 * what was missing.
 *
 * The scheduler is pure: it reads a `PlacementSnapshot` (one statement, `store/nodes.ts`) and builds an index
 * of it once (images by host, hosts by region), so a placement costs one pass over the candidate hosts with
 * constant-time checks each. The reservation itself is made by recording the CVM in the transaction that
 * holds the host's row lock and checks the host again (`reserveAtCommit`).
 */
import { ApiError, ErrorCodes, badRequest } from '@opencvm/core';
import type { Queryable } from '../db/index.ts';
import { setCommittedCvmGpus } from '../store/cvms.ts';
import {
  nodeForCommit,
  placementSnapshot,
  type GpuRequest,
  type NodeImageRow,
  type NodeRow,
  type NodeUsageRow,
  type PlacementSnapshot,
} from '../store/nodes.ts';

export type { GpuRequest };

export interface PlacementRequest {
  nodeId?: number | null;
  region?: string | null;
  /** labels the host must carry, each with this value */
  labels?: Record<string, string> | null;
  image?: string | null;
  preferDev?: boolean | null;
  vcpu: number;
  memoryMb: number;
  diskGb: number;
  gpus?: GpuRequest | null;
  /** the CVM's KMS is on a chain (ETHEREUM, BASE): only hosts with `onchain_kms` */
  onchainKms?: boolean;
  /** spread: prefer hosts with fewer live CVMs of this app */
  appId?: string | null;
  /** a CVM already written that must not count against its node (the one being placed) */
  excluding?: number;
  /** GPU slots to keep if they are still free on the chosen host (a commit re-checking its provision's choice) */
  preferredSlots?: string[];
}

export interface Placement {
  node: NodeRow;
  image: NodeImageRow;
  /** the host's GPU slots the CVM gets (empty without GPUs) */
  gpuSlots: string[];
}

/** dstack-vmm's VmConfiguration `gpus` for the slots a placement gave (null without GPUs). */
export function gpuConfigOf(slots: string[]): { gpus: { slot: string }[]; attach_mode: string } | null {
  return slots.length ? { gpus: slots.map((slot) => ({ slot })), attach_mode: 'listed' } : null;
}

/** The GPUs a provision asks for: its `gpus` list if it names any, else its instance type's count. */
export function gpuRequestOf(gpus: { gpus?: { slot?: string | null; product_id?: string | null }[] | null; attach_mode?: string | null } | null | undefined, typeCount: number): GpuRequest | null {
  if (gpus?.attach_mode === 'all') return { want: [], all: true };
  const listed = gpus?.gpus ?? [];
  if (listed.length) return { want: listed.map((g) => ({ slot: g.slot || null, product_id: g.product_id || null })) };
  return typeCount > 0 ? { want: Array.from({ length: typeCount }, () => ({})) } : null;
}

const gpuCount = (g: GpuRequest | null | undefined) => (g ? (g.all ? 1 : g.want.length) : 0);

/** dstack image names carry their version: newest first ("dstack-0.5.8" before "dstack-0.5.7"). */
function byVersionDesc(a: NodeImageRow, b: NodeImageRow): number {
  const pa = a.version.split('.').map(Number);
  const pb = b.version.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pb[i] ?? 0) - (pa[i] ?? 0);
    if (d) return d;
  }
  return a.name.localeCompare(b.name);
}

/** The newest image of a host per (dev, GPU) kind, and every image by name. */
interface NodeImages {
  byName: Map<string, NodeImageRow>;
  /** index: (is_dev ? 1 : 0) + (requires_gpu ? 2 : 0) */
  newest: (NodeImageRow | undefined)[];
}

/** Why a host did not take the CVM, in the order the constraints are checked (the later, the closer it came). */
const REASONS = ['cordoned', 'region', 'labels', 'onchain', 'image', 'devhost', 'gpu', 'slots', 'vcpu', 'memory', 'disk'] as const;
type Reason = (typeof REASONS)[number];

const REASON_CODE: Record<Reason, ApiError['code']> = {
  cordoned: ErrorCodes.HOST_CORDONED,
  region: ErrorCodes.RESOURCE_NOT_AVAILABLE,
  labels: ErrorCodes.RESOURCE_NOT_AVAILABLE,
  onchain: ErrorCodes.RESOURCE_NOT_AVAILABLE,
  image: ErrorCodes.OS_IMAGE_NOT_COMPATIBLE,
  devhost: ErrorCodes.OS_IMAGE_NOT_COMPATIBLE,
  gpu: ErrorCodes.INSUFFICIENT_GPU,
  slots: ErrorCodes.INSUFFICIENT_SLOTS,
  vcpu: ErrorCodes.INSUFFICIENT_VCPU,
  memory: ErrorCodes.INSUFFICIENT_MEMORY,
  disk: ErrorCodes.RESOURCE_NOT_AVAILABLE,
};

/** Per constraint: how many hosts it excluded, the most any of them had free (and which), and what they had. */
interface Tally {
  count: number;
  best?: { free: number; node: string };
  seen: Set<string>;
}

/** What a request asks, worked out once per placement rather than once per host. */
interface Asked {
  req: PlacementRequest;
  region: string | null;
  labels: [string, string][] | null;
  onchain: boolean;
  gpus: number;
  dev: 0 | 1;
  vcpu: number;
  memoryMb: number;
  diskGb: number;
}

const NO_FREE = -1;

/**
 * A snapshot indexed for placement: hosts by id and region, each host's images by name and its newest image
 * per kind, each host's usage, all in arrays by host position. Built once per snapshot; a placement is one pass
 * over the candidate hosts with constant-time, allocation-free checks each (the winner's image and GPU slots
 * are worked out once, at the end). `reserve` records a placement in it (so a caller placing many CVMs, like
 * the benchmark, sees hosts fill up).
 */
export class PlacementIndex {
  readonly nodes: NodeRow[];
  // per host position: capacity, flags and what its live CVMs are allocated, in typed arrays (the hot loop
  // reads these rather than the rows)
  private readonly maxCvms: Int32Array;
  private readonly maxVcpu: Int32Array;
  private readonly maxMem: Int32Array;
  private readonly maxDisk: Int32Array;
  private readonly usedCvms: Int32Array;
  private readonly usedVcpu: Int32Array;
  private readonly usedMem: Int32Array;
  private readonly usedDisk: Int32Array;
  private readonly gpuTotal: Int32Array;
  /** bit 1: cordoned, 2: dev host, 4: takes on-chain KMS apps */
  private readonly flags: Uint8Array;
  /** the GPU slots taken, for hosts with GPUs */
  private readonly gpuTaken: Set<string>[];
  private readonly nodeImages: (NodeImages | undefined)[];
  private readonly byId = new Map<number, number>();
  private readonly byRegion = new Map<string, number[]>();
  private readonly all: number[];
  private readonly imageNames = new Set<string>();
  /** per app with live CVMs: host position → how many of them are there (spreading) */
  private readonly appAt = new Map<string, Map<number, number>>();
  /** what the last failed check found free of the missing resource (NO_FREE: not a resource) */
  private missFree = NO_FREE;

  constructor(snapshot: PlacementSnapshot) {
    const nodes = (this.nodes = snapshot.nodes);
    const n = nodes.length;
    this.all = nodes.map((_, i) => i);
    this.maxCvms = Int32Array.from(nodes, (x) => x.max_cvms);
    this.maxVcpu = Int32Array.from(nodes, (x) => x.max_vcpu);
    this.maxMem = Int32Array.from(nodes, (x) => x.max_memory_mb);
    this.maxDisk = Int32Array.from(nodes, (x) => x.max_disk_gb);
    this.gpuTotal = Int32Array.from(nodes, (x) => x.gpus?.length ?? 0);
    this.flags = Uint8Array.from(nodes, (x) => (x.cordoned ? 1 : 0) | (x.dev ? 2 : 0) | (x.onchain_kms ? 4 : 0));
    this.usedCvms = new Int32Array(n);
    this.usedVcpu = new Int32Array(n);
    this.usedMem = new Int32Array(n);
    this.usedDisk = new Int32Array(n);
    this.gpuTaken = nodes.map(() => new Set<string>());
    nodes.forEach((x, i) => {
      this.byId.set(x.id, i);
      let r = this.byRegion.get(x.region);
      if (!r) this.byRegion.set(x.region, (r = []));
      r.push(i);
    });
    this.nodeImages = nodes.map(() => undefined);
    for (const img of snapshot.images) {
      this.imageNames.add(img.name);
      const at = this.byId.get(img.node_id);
      if (at === undefined) continue;
      let mine = this.nodeImages[at];
      if (!mine) this.nodeImages[at] = mine = { byName: new Map(), newest: [] };
      mine.byName.set(img.name, img);
      const k = (img.is_dev ? 1 : 0) + (img.requires_gpu ? 2 : 0);
      const cur = mine.newest[k];
      if (!cur || byVersionDesc(img, cur) < 0) mine.newest[k] = img;
    }
    for (const u of snapshot.usage) {
      const at = this.byId.get(u.node_id);
      if (at === undefined) continue;
      this.usedCvms[at] = u.cvms;
      this.usedVcpu[at] = u.vcpu;
      this.usedMem[at] = u.memory_mb;
      this.usedDisk[at] = u.disk_gb;
      for (const slot of u.gpu_slots ?? []) this.gpuTaken[at].add(slot);
      if (u.app_id && u.app_cvms) this.addApp(u.app_id, at, u.app_cvms);
    }
  }

  private addApp(appId: string, at: number, n: number): void {
    let hosts = this.appAt.get(appId);
    if (!hosts) this.appAt.set(appId, (hosts = new Map()));
    hosts.set(at, (hosts.get(at) ?? 0) + n);
  }

  /** Record that `p` now holds `req`'s resources on its host. */
  reserve(p: Placement, req: Pick<PlacementRequest, 'vcpu' | 'memoryMb' | 'diskGb' | 'appId'>): void {
    const at = this.byId.get(p.node.id);
    if (at === undefined) return;
    this.usedCvms[at] += 1;
    this.usedVcpu[at] += req.vcpu;
    this.usedMem[at] += req.memoryMb;
    this.usedDisk[at] += req.diskGb;
    for (const s of p.gpuSlots) this.gpuTaken[at].add(s);
    if (req.appId) this.addApp(req.appId, at, 1);
  }

  /** Where `req` goes, or the 400 naming, per constraint, what the hosts lacked. */
  place(req: PlacementRequest): Placement {
    let candidates: readonly number[] = this.all;
    if (req.nodeId != null) {
      const at = this.byId.get(req.nodeId);
      if (at === undefined) {
        throw badRequest(ErrorCodes.NODE_NOT_FOUND, `Node ${req.nodeId} does not exist or is offline: pick one from GET /teepods/available.`);
      }
      const node = this.nodes[at];
      if (node.cordoned) {
        throw badRequest(ErrorCodes.HOST_CORDONED,
          `Node ${node.name} (${node.id}) is cordoned: it takes no new CVMs until an operator uncordons it. Pick another from GET /teepods/available, or leave node_id out.`);
      }
      candidates = [at];
    } else if (req.region) {
      const inRegion = this.byRegion.get(req.region);
      if (!inRegion) {
        const regions = [...this.byRegion.keys()].sort().join(', ') || 'none';
        throw badRequest(ErrorCodes.RESOURCE_NOT_AVAILABLE, `No node in region "${req.region}": available regions are ${regions}.`);
      }
      candidates = inRegion;
    }
    if (req.image && !this.imageNames.has(req.image)) {
      const names = [...this.imageNames].sort().join(', ');
      throw badRequest(ErrorCodes.IMAGE_NOT_FOUND, `OS image "${req.image}" does not exist: use one of ${names} (GET /os-images).`);
    }
    if (!this.nodes.length) throw badRequest(ErrorCodes.RESOURCE_NOT_AVAILABLE, 'No node is available: register a dstack host first.');

    const asked = this.asked(req);
    const appHosts = req.appId ? this.appAt.get(req.appId) : undefined;
    let best = -1;
    let bestSpread = 0;
    let bestFree = 0;
    for (let k = 0; k < candidates.length; k++) {
      const at = candidates[k];
      if (!this.fits(at, asked)) continue;
      const spread = appHosts ? appHosts.get(at) ?? 0 : 0;
      const free = this.maxMem[at] - this.usedMem[at];
      if (best < 0 || spread < bestSpread || (spread === bestSpread && free > bestFree)) {
        best = at;
        bestSpread = spread;
        bestFree = free;
      }
    }
    if (best >= 0) return this.placementAt(best, asked);

    // nothing fits: a second pass says why, per host the first constraint it fails, in the order of REASONS
    const counts = new Array<number>(REASONS.length).fill(0);
    const mostFree = new Array<number>(REASONS.length).fill(NO_FREE);
    const mostFreeAt = new Array<number>(REASONS.length).fill(-1);
    for (const at of candidates) {
      const miss = this.check(at, asked);
      if (miss < 0) continue;
      counts[miss]++;
      if (this.missFree > mostFree[miss]) {
        mostFree[miss] = this.missFree;
        mostFreeAt[miss] = at;
      }
    }
    const tallies = new Map<Reason, Tally>();
    REASONS.forEach((reason, r) => {
      if (!counts[r]) return;
      tallies.set(reason, {
        count: counts[r],
        ...(mostFreeAt[r] >= 0 && { best: { free: mostFree[r], node: this.nodes[mostFreeAt[r]].name } }),
        seen: new Set(),
      });
    });
    // the error code is the constraint of the host that came closest (the last one checked that failed)
    const closest = [...REASONS].reverse().find((r) => tallies.has(r)) ?? 'region';
    if (req.region && req.nodeId == null) {
      // the hosts of other regions were not looked at; say how many there are
      const others = this.nodes.length - candidates.length;
      if (others) {
        tallies.set('region', { count: others, seen: new Set([...this.byRegion.keys()].filter((r) => r !== req.region).sort().slice(0, 4)) });
      }
    }
    throw refusal(req, tallies, closest, req.nodeId != null ? this.nodes[candidates[0]].name : undefined);
  }

  /** Every host that takes `req`, best first (fewest CVMs of the app, then most free memory); those in `skip` left out. */
  ranked(req: PlacementRequest, skip?: ReadonlySet<number>): Placement[] {
    const asked = this.asked(req);
    const appHosts = req.appId ? this.appAt.get(req.appId) : undefined;
    const fits: { at: number; spread: number; free: number }[] = [];
    for (const at of req.region ? this.byRegion.get(req.region) ?? [] : this.all) {
      if (skip?.has(this.nodes[at].id) || !this.fits(at, asked)) continue;
      fits.push({ at, spread: appHosts?.get(at) ?? 0, free: this.maxMem[at] - this.usedMem[at] });
    }
    return fits.sort((a, b) => a.spread - b.spread || b.free - a.free).map((f) => this.placementAt(f.at, asked));
  }

  private asked(req: PlacementRequest): Asked {
    const labels = req.labels ? Object.entries(req.labels) : null;
    return {
      req, region: req.region || null, labels: labels?.length ? labels : null, onchain: !!req.onchainKms, gpus: gpuCount(req.gpus),
      dev: (req.preferDev ?? true) ? 1 : 0, vcpu: req.vcpu, memoryMb: req.memoryMb, diskGb: req.diskGb,
    };
  }

  /** The placement on a host that passed `check`: its image and GPU slots. */
  private placementAt(at: number, a: Asked): Placement {
    const node = this.nodes[at];
    const gpuSlots = a.gpus ? takeGpus(node, this.gpuTaken[at], a.req.gpus!, a.req.preferredSlots) : [];
    return { node, image: this.imageFor(at, a)!, gpuSlots: typeof gpuSlots === 'number' ? [] : gpuSlots };
  }

  /**
   * Whether the host at `at` takes the request: `check`'s verdict, its cheapest tests first (the capacity in
   * typed arrays rejects a full host before any row is read). Allocates nothing but for GPU requests.
   */
  private fits(at: number, a: Asked): boolean {
    let max = this.maxVcpu[at];
    if (max && this.usedVcpu[at] + a.vcpu > max) return false;
    max = this.maxMem[at];
    if (max && this.usedMem[at] + a.memoryMb > max) return false;
    max = this.maxCvms[at];
    if (max && this.usedCvms[at] + 1 > max) return false;
    max = this.maxDisk[at];
    if (max && this.usedDisk[at] + a.diskGb > max) return false;
    const flags = this.flags[at];
    if (flags & 1 || (a.onchain && !(flags & 4))) return false;
    if (a.gpus && this.gpuTotal[at] - this.gpuTaken[at].size < Math.max(1, a.gpus)) return false;
    if (a.region !== null && this.nodes[at].region !== a.region) return false;
    if (a.labels) {
      const labels = this.nodes[at].labels;
      for (let k = 0; k < a.labels.length; k++) if (!labels || labels[a.labels[k][0]] !== a.labels[k][1]) return false;
    }
    const image = this.imageFor(at, a);
    if (!image || (flags & 2 && !image.is_dev)) return false;
    return !a.gpus || typeof takeGpus(this.nodes[at], this.gpuTaken[at], a.req.gpus!, a.req.preferredSlots) !== 'number';
  }

  /**
   * Whether the host at `at` takes the request: -1, or the index in REASONS of the first constraint it fails
   * (with what it has free of a missing resource in `missFree`). Allocates nothing but for GPU requests.
   */
  private check(at: number, a: Asked): number {
    const req = a.req;
    const flags = this.flags[at];
    this.missFree = NO_FREE;
    if (flags & 1) return 0;
    if (a.region !== null && this.nodes[at].region !== a.region) return 1;
    if (a.labels) {
      const labels = this.nodes[at].labels;
      for (let k = 0; k < a.labels.length; k++) if (!labels || labels[a.labels[k][0]] !== a.labels[k][1]) return 2;
    }
    if (a.onchain && !(flags & 4)) return 3;
    const image = this.imageFor(at, a);
    if (!image) return 4;
    if (flags & 2 && !image.is_dev) return 5;
    if (a.gpus) {
      const total = this.gpuTotal[at];
      // a host without GPUs is not "the one with the most free"
      if (!total) return 6;
      const taken = this.gpuTaken[at];
      const got = total - taken.size < a.gpus ? total - taken.size : takeGpus(this.nodes[at], taken, req.gpus!, req.preferredSlots);
      if (typeof got === 'number') {
        this.missFree = got;
        return 6;
      }
    }
    let max = this.maxCvms[at];
    let used = this.usedCvms[at];
    if (max && used + 1 > max) {
      this.missFree = Math.max(0, max - used);
      return 7;
    }
    max = this.maxVcpu[at];
    used = this.usedVcpu[at];
    if (max && used + a.vcpu > max) {
      this.missFree = Math.max(0, max - used);
      return 8;
    }
    max = this.maxMem[at];
    used = this.usedMem[at];
    if (max && used + a.memoryMb > max) {
      this.missFree = Math.max(0, max - used);
      return 9;
    }
    max = this.maxDisk[at];
    used = this.usedDisk[at];
    if (max && used + a.diskGb > max) {
      this.missFree = Math.max(0, max - used);
      return 10;
    }
    return -1;
  }

  /** The image a request boots on a host: the one named, else the host's newest of the kind (dev or not; a GPU one first for a GPU CVM). */
  private imageFor(at: number, a: Asked): NodeImageRow | undefined {
    const mine = this.nodeImages[at];
    if (!mine) return undefined;
    if (a.req.image) {
      const i = mine.byName.get(a.req.image);
      return i && (!i.requires_gpu || a.gpus > 0) ? i : undefined;
    }
    return (a.gpus ? mine.newest[a.dev + 2] : undefined) ?? mine.newest[a.dev];
  }
}

/**
 * Which of the host's GPU slots `want` gets (`taken`: the slots its live CVMs hold), or how many free GPUs of a
 * fitting product it has. A slot named must be free; a product named takes a free slot of that product; the
 * rest take any free slot. `preferred` slots are kept when they still fit.
 */
function takeGpus(node: NodeRow, taken: Set<string> | undefined, want: GpuRequest, preferred?: string[]): string[] | number {
  const gpus = node.gpus ?? [];
  const free = gpus.filter((g) => !taken?.has(g.slot));
  if (want.all) return gpus.length && free.length === gpus.length ? gpus.map((g) => g.slot) : free.length;
  const got: string[] = [];
  const used = new Set<string>();
  const products = new Set(want.want.map((w) => w.product_id).filter(Boolean));
  const fitting = () => free.filter((g) => !products.size || products.has(g.product_id)).length;
  // named slots first, then named products, then any
  const order = [...want.want].sort((a, b) => (b.slot ? 2 : b.product_id ? 1 : 0) - (a.slot ? 2 : a.product_id ? 1 : 0));
  for (const w of order) {
    const options = free.filter((g) => !used.has(g.slot) && (!w.slot || g.slot === w.slot) && (!w.product_id || g.product_id === w.product_id));
    const pick = options.find((g) => preferred?.includes(g.slot)) ?? options[0];
    if (!pick) return fitting();
    used.add(pick.slot);
    got.push(pick.slot);
  }
  return got;
}

/** The 400 of a placement nothing took: per constraint, how many hosts it excluded and what was missing. */
function refusal(req: PlacementRequest, tallies: Map<Reason, Tally>, closest: Reason, nodeName?: string): ApiError {
  const parts: string[] = [];
  const hosts = (n: number, one: string, many: string) => `${n} ${n === 1 ? `node ${one}` : `nodes ${many}`}`;
  const most = (t: Tally, unit: string) => (t.best ? `, most free ${t.best.free}${unit}: ${t.best.node}` : '');
  const gpus = req.gpus;
  const gpuWhat = gpus?.all
    ? 'all of a host\'s GPUs'
    : `${gpus?.want.length ?? 0} GPU${(gpus?.want.length ?? 0) === 1 ? '' : 's'}${describeGpuWant(gpus)}`;
  for (const reason of REASONS) {
    const t = tallies.get(reason);
    if (!t) continue;
    const n = t.count;
    switch (reason) {
      case 'cordoned': parts.push(`${hosts(n, 'is', 'are')} cordoned`); break;
      case 'region': parts.push(`${hosts(n, 'is in another region', 'are in other regions')}${t.seen.size ? ` (${[...t.seen].join(', ')})` : ''}`); break;
      case 'labels': parts.push(`${hosts(n, 'lacks', 'lack')} the labels ${Object.entries(req.labels ?? {}).map(([k, v]) => `${k}=${v}`).join(', ')}`); break;
      case 'onchain': parts.push(`${hosts(n, 'does', 'do')} not take on-chain KMS apps`); break;
      case 'image': parts.push(req.image
        ? `${hosts(n, 'does', 'do')} not have OS image "${req.image}"${gpus ? ' (or it is not for GPU CVMs)' : ''}`
        : `${hosts(n, 'has', 'have')} no ${req.preferDev === false ? 'production' : 'dev'} OS image`); break;
      case 'devhost': parts.push(`${hosts(n, 'is a dev host', 'are dev hosts')}, which take only dev images`); break;
      case 'gpu': parts.push(`${hosts(n, 'lacks', 'lack')} GPUs (need ${gpuWhat}${t.best ? `, most free ${t.best.free}: ${t.best.node}` : ''})`); break;
      case 'slots': parts.push(`${hosts(n, 'has', 'have')} no free CVM slot`); break;
      case 'vcpu': parts.push(`${hosts(n, 'lacks', 'lack')} vCPU (need ${req.vcpu}${most(t, '')})`); break;
      case 'memory': parts.push(`${hosts(n, 'lacks', 'lack')} memory (need ${req.memoryMb} MB${most(t, ' MB')})`); break;
      case 'disk': parts.push(`${hosts(n, 'lacks', 'lack')} disk (need ${req.diskGb} GB${most(t, ' GB')})`); break;
    }
  }
  const subject = req.nodeId != null ? `Node ${nodeName ?? req.nodeId} cannot take this CVM` : 'No node can take this CVM';
  const hint = closest === 'vcpu' || closest === 'memory' || closest === 'disk' || closest === 'slots'
    ? ' Choose a smaller instance type, free capacity, or add a host.'
    : closest === 'gpu' ? ' Ask for fewer GPUs or another product, or add a GPU host.' : '';
  return badRequest(REASON_CODE[closest], `${subject}: ${parts.join('; ')}.${hint}`);
}

function describeGpuWant(g: GpuRequest | null | undefined): string {
  const named = (g?.want ?? []).map((w) => w.slot ? `slot ${w.slot}` : w.product_id ? `product ${w.product_id}` : '').filter(Boolean);
  return named.length ? ` (${[...new Set(named)].join(', ')})` : '';
}

/** Indexes built from snapshots, kept as long as the snapshot is (a provision's snapshot is placed on once). */
const indexes = new WeakMap<PlacementSnapshot, PlacementIndex>();

/** Place on what the store says now (one statement; a request for one node reads only that node's usage). */
export async function place(q: Queryable, req: PlacementRequest): Promise<Placement> {
  return placeWith(await placementSnapshot(q, { usageOf: req.nodeId ?? undefined, except: req.excluding, appId: req.appId ?? undefined }), req);
}

/** Place on a snapshot already read (a provision reads it along with the rest of what it checks). */
export function placeWith(snapshot: PlacementSnapshot, req: PlacementRequest): Placement {
  let index = indexes.get(snapshot);
  if (!index) indexes.set(snapshot, (index = new PlacementIndex(snapshot)));
  return index.place(req);
}

/**
 * Whether the CVM still fits on `node` now (`usage`: what the other live CVMs there are allocated, read after
 * the node's row was locked). Answers the GPU slots it gets, or throws the 400 naming what is missing.
 */
export function checkNodeCapacity(node: NodeRow, usage: NodeUsageRow | undefined, image: NodeImageRow | null, req: PlacementRequest): string[] {
  if (node.status !== 'online' || node.removed_at) {
    throw badRequest(ErrorCodes.NODE_NOT_FOUND, `Node ${node.name} (${node.id}) is ${node.removed_at ? 'removed' : node.status}: it takes no new CVMs. Provision again to be placed on another node.`);
  }
  if (!image) {
    throw badRequest(ErrorCodes.OS_IMAGE_NOT_COMPATIBLE, `Node ${node.name} no longer has OS image "${req.image}": provision again.`);
  }
  const index = new PlacementIndex({ nodes: [node], images: [image], usage: usage ? [usage] : [] });
  return index.place({ ...req, nodeId: node.id, region: null, image: image.name }).gpuSlots;
}

/**
 * A commit's node no longer has room and its CVM may go elsewhere: the node chosen again (with the GPU slots it
 * would get there), on which the commit is made again in a new transaction. `refusal` is what the commit
 * answers if it stops trying.
 */
export class PlaceAgain extends Error {
  constructor(
    readonly from: number,
    readonly nodeId: number,
    readonly gpuSlots: string[],
    readonly refusal: ApiError,
  ) {
    super(`the node no longer has room: placed again on node ${nodeId}`);
  }
}

/** What a commit checks again, under the node's lock, before its CVM stands. */
export interface CommitPlacement {
  cvmId: number;
  /** the node the CVM was recorded on, whose row the statement that recorded it locked */
  nodeId: number;
  image: string;
  vcpu: number;
  memoryMb: number;
  diskGb: number;
  gpus: GpuRequest | null;
  /** the GPU slots the CVM was recorded with */
  slots: string[];
  /**
   * the constraints to place it again with when it may go to another node (no node was asked), and the nodes
   * already tried; null: it may not
   */
  replace: { region: string | null; labels: Record<string, string> | null; tried: number[] } | null;
}

/**
 * The commit's capacity check, in its transaction: the node, locked by the statement that recorded the CVM,
 * must still take it now (slots, vCPU, memory, disk, its GPU slots free, the image there, the node online and
 * not cordoned). One statement when it does (two if its GPU slots changed: others of the product were free).
 * When it does not: the 400 naming what is missing, or, if the CVM may go elsewhere (`replace`), `PlaceAgain`
 * with the best other node on what the database says now (this transaction still holding the full node, so
 * nothing else is committed to it meanwhile); the caller rolls back and commits on that node. A commit thus
 * holds one node's lock at a time, and never waits for a second: no two commits can deadlock on nodes.
 */
export async function reserveAtCommit(q: Queryable, c: CommitPlacement): Promise<{ nodeId: number; gpuSlots: string[] }> {
  const req: PlacementRequest = { image: c.image, vcpu: c.vcpu, memoryMb: c.memoryMb, diskGb: c.diskGb, gpus: c.gpus, preferredSlots: c.slots };
  const found = await nodeForCommit(q, c.nodeId, c.cvmId, c.image);
  let here: ApiError;
  if (!found) {
    here = badRequest(ErrorCodes.NODE_NOT_FOUND, `Node ${c.nodeId} no longer exists: provision again.`);
  } else {
    try {
      const gpuSlots = checkNodeCapacity(found.node, found.usage, found.image, req);
      const same = gpuSlots.length === c.slots.length && gpuSlots.every((s, i) => s === c.slots[i]);
      if (!same) await setCommittedCvmGpus(q, c.cvmId, gpuConfigOf(gpuSlots));
      return { nodeId: c.nodeId, gpuSlots };
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      here = e;
    }
  }
  if (!c.replace) throw here;
  const wanted: PlacementRequest = { ...req, preferredSlots: undefined, region: c.replace.region, labels: c.replace.labels };
  const index = new PlacementIndex(await placementSnapshot(q, { except: c.cvmId }));
  const [next] = index.ranked(wanted, new Set([c.nodeId, ...c.replace.tried]));
  let refusal = here;
  try {
    index.place(wanted);
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    refusal = e;
  }
  if (!next) throw refusal;
  throw new PlaceAgain(c.nodeId, next.node.id, next.gpuSlots, refusal);
}
