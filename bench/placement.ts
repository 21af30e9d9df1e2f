/**
 * f. Placement: the scheduler (packages/server/src/services/scheduler.ts) placing 10 000 CVMs on 1 000 hosts,
 *    in this process, without a database: hosts of varied sizes, regions, labels, images (dev and production),
 *    GPUs (two products) and on-chain KMS support; requests of varied instance types, some with a region,
 *    labels, GPUs (by product), a named image, an on-chain KMS, and 2 000 apps whose CVMs spread. Placements
 *    accumulate (each is reserved in the index), so hosts fill up and later requests are refused with the
 *    message naming what is missing. Reported: total scheduler time (building the index from the snapshot
 *    and every placement and refusal; target <= 2 s), against a baseline in the same run: a bare first-fit
 *    loop over the same host and request arrays that checks vCPU and memory only (no other constraint, no
 *    spreading, no messages).
 *
 * Alone: `npm run bench:placement`.
 */
import { pathToFileURL } from 'node:url';
import { ApiError } from '@opencvm/core';
import type { NodeImageRow, NodeRow, PlacementSnapshot } from '../packages/server/src/store/nodes.ts';
import { PlacementIndex, type PlacementRequest } from '../packages/server/src/services/scheduler.ts';

export const HOSTS = 1_000;
export const CVMS = 10_000;
/** total scheduler time, ms */
export const PLACEMENT_TARGET_MS = 2_000;
const ROUNDS = 3;

export interface PlacementResult {
  /** the best of ROUNDS runs, ms */
  schedulerMs: number;
  baselineMs: number;
  placed: number;
  refused: number;
  /** refusals per error code */
  codes: Record<string, number>;
  baselinePlaced: number;
  /** most CVMs of one app on one host */
  maxAppPerHost: number;
}

/** A small deterministic PRNG (mulberry32), so every run places the same fleet. */
function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const REGIONS = ['us-east', 'us-west', 'eu-west', 'eu-central', 'ap-south'];
const IMAGES = [
  { name: 'dstack-0.5.6', version: '0.5.6', is_dev: false },
  { name: 'dstack-0.5.7', version: '0.5.7', is_dev: false },
  { name: 'dstack-0.5.8', version: '0.5.8', is_dev: false },
  { name: 'dstack-dev-0.5.7', version: '0.5.7', is_dev: true },
  { name: 'dstack-dev-0.5.8', version: '0.5.8', is_dev: true },
];
const SIZES = [
  { vcpu: 1, memoryMb: 2048, diskGb: 20 },
  { vcpu: 2, memoryMb: 4096, diskGb: 20 },
  { vcpu: 4, memoryMb: 8192, diskGb: 40 },
  { vcpu: 8, memoryMb: 16384, diskGb: 80 },
];

export function fleet(seed = 13): { snapshot: PlacementSnapshot; requests: PlacementRequest[] } {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)]!;
  const nodes: NodeRow[] = [];
  const images: NodeImageRow[] = [];
  for (let id = 1; id <= HOSTS; id++) {
    const big = r() < 0.3;
    const gpus = r() < 0.1 ? Array.from({ length: 8 }, (_, i) => ({ slot: `0000:${(0x10 + i).toString(16)}:00.0`, product_id: id % 2 ? '2335' : '2330', description: '' })) : [];
    nodes.push({
      id, name: `host-${id}`, url: `http://10.0.${id >> 8}.${id & 255}:9080`, auth_token: null, auth_token_sealed: null, kms_token_hash: null,
      region: pick(REGIONS), device_id: '', ppid: '', fmspc: '', gateway_base_domain: null,
      max_cvms: big ? 32 : 8, max_vcpu: big ? 64 : 16, max_memory_mb: big ? 262144 : 32768, max_disk_gb: big ? 4000 : 500,
      listed: true, status: 'online', version: '0.5.8', created_at: new Date(0), cordoned: r() < 0.02,
      labels: { tier: pick(['gold', 'silver', 'bronze']), zone: String(1 + Math.floor(r() * 3)) }, gpus, dev: r() < 0.05, onchain_kms: r() < 0.7,
      overrides: {}, source: 'admin', refreshed_at: null, removed_at: null, unreachable_since: null, last_error: null,
    });
    for (const img of IMAGES) if (r() < 0.7) images.push({ node_id: id, ...img, requires_gpu: false, os_image_hash: null });
    if (gpus.length) images.push({ node_id: id, name: 'dstack-nvidia-dev-0.5.8', version: '0.5.8', is_dev: true, requires_gpu: true, os_image_hash: null });
  }
  const requests: PlacementRequest[] = [];
  for (let i = 0; i < CVMS; i++) {
    const x = r();
    const req: PlacementRequest = { ...pick(SIZES), appId: `app-${Math.floor(r() * 2000)}` };
    if (x < 0.15) req.region = pick(REGIONS);
    else if (x < 0.25) req.labels = { tier: pick(['gold', 'silver']) };
    else if (x < 0.3) req.gpus = { want: Array.from({ length: 1 + Math.floor(r() * 2) }, () => ({ product_id: pick(['2335', '2330']) })) };
    else if (x < 0.35) req.image = pick(IMAGES).name;
    else if (x < 0.4) {
      req.onchainKms = true;
      req.preferDev = false;
    }
    requests.push(req);
  }
  return { snapshot: { nodes, images, usage: [] }, requests };
}

/** The scheduler over the fleet: index built once, every request placed (or refused) and reserved. */
function runScheduler(snapshot: PlacementSnapshot, requests: PlacementRequest[]) {
  const t0 = performance.now();
  const index = new PlacementIndex(snapshot);
  let placed = 0;
  const codes: Record<string, number> = {};
  const perApp = new Map<string, number>();
  for (const req of requests) {
    try {
      const p = index.place(req);
      index.reserve(p, req);
      placed++;
      const k = `${req.appId}@${p.node.id}`;
      perApp.set(k, (perApp.get(k) ?? 0) + 1);
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      codes[e.code] = (codes[e.code] ?? 0) + 1;
    }
  }
  const ms = performance.now() - t0;
  return { ms, placed, codes, maxAppPerHost: Math.max(0, ...perApp.values()) };
}

/** The baseline: first fit by vCPU and memory over the same arrays, nothing else. */
function runBaseline(snapshot: PlacementSnapshot, requests: PlacementRequest[]) {
  const t0 = performance.now();
  const nodes = snapshot.nodes;
  const vcpu = new Int32Array(nodes.length);
  const mem = new Int32Array(nodes.length);
  let placed = 0;
  for (const req of requests) {
    for (let i = 0; i < nodes.length; i++) {
      if (vcpu[i] + req.vcpu <= nodes[i].max_vcpu && mem[i] + req.memoryMb <= nodes[i].max_memory_mb) {
        vcpu[i] += req.vcpu;
        mem[i] += req.memoryMb;
        placed++;
        break;
      }
    }
  }
  return { ms: performance.now() - t0, placed };
}

export function benchPlacement(): PlacementResult {
  const { snapshot, requests } = fleet();
  let best: PlacementResult | undefined;
  for (let round = 0; round < ROUNDS; round++) {
    const s = runScheduler(snapshot, requests);
    const b = runBaseline(snapshot, requests);
    if (!best || s.ms < best.schedulerMs) {
      best = { schedulerMs: s.ms, baselineMs: Math.min(b.ms, best?.baselineMs ?? Infinity), placed: s.placed, refused: CVMS - s.placed, codes: s.codes, baselinePlaced: b.placed, maxAppPerHost: s.maxAppPerHost };
    } else {
      best.baselineMs = Math.min(best.baselineMs, b.ms);
    }
  }
  return best!;
}

const f1 = (n: number) => n.toFixed(1);

export function reportPlacement(r: PlacementResult) {
  const ratio = r.schedulerMs / r.baselineMs;
  console.log(`\n  f. placement: ${CVMS} CVMs on ${HOSTS} hosts (varied sizes, regions, labels, images, GPUs, on-chain KMS; placements accumulate), best of ${ROUNDS}`);
  console.log(`     scheduler ${f1(r.schedulerMs)} ms (index + every placement and refusal): ${r.placed} placed, ${r.refused} refused ` +
    `(${Object.entries(r.codes).map(([c, n]) => `${c} ${n}`).join(', ') || 'none'}); most CVMs of one app on one host: ${r.maxAppPerHost}`);
  console.log(`     baseline: bare first fit on vCPU and memory over the same arrays ${f1(r.baselineMs)} ms (${r.baselinePlaced} placed)`);
  console.log(`     ratio scheduler / baseline = ${ratio.toFixed(2)}   target: scheduler <= ${PLACEMENT_TARGET_MS} ms   ${r.schedulerMs <= PLACEMENT_TARGET_MS ? 'PASS' : 'MISS'}`);
}

/** One summary line. */
export function summaryPlacement(r: PlacementResult): string {
  return `  placement ${CVMS} CVMs / ${HOSTS} hosts: scheduler ${f1(r.schedulerMs)} ms / baseline ${f1(r.baselineMs)} ms = ${(r.schedulerMs / r.baselineMs).toFixed(2)}` +
    ` (<= ${PLACEMENT_TARGET_MS} ms: ${r.schedulerMs <= PLACEMENT_TARGET_MS ? 'PASS' : 'MISS'})`;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const r = benchPlacement();
  reportPlacement(r);
  console.log(summaryPlacement(r));
}
