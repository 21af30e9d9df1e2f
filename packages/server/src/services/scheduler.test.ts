/**
 * The scheduler as a pure function of a snapshot: every constraint, spreading, GPU slots, and the refusal
 * messages that name, per constraint, what the hosts lacked.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError } from '@opencvm/core';
import type { NodeImageRow, NodeRow, NodeUsageRow, PlacementSnapshot } from '../store/nodes.ts';
import { PlacementIndex, checkNodeCapacity, gpuConfigOf, gpuRequestOf, placeWith, type PlacementRequest } from './scheduler.ts';

let nextId = 1;
function node(name: string, o: Partial<NodeRow> = {}): NodeRow {
  return {
    id: nextId++, name, url: `http://${name}`, auth_token: null, auth_token_sealed: null, kms_token_hash: null, region: 'us-east',
    device_id: 'd'.repeat(64), ppid: '', fmspc: '', gateway_base_domain: null, max_cvms: 10, max_vcpu: 16, max_memory_mb: 32768,
    listed: true, status: 'online', version: '0.5.8', created_at: new Date(0), cordoned: false, labels: {}, max_disk_gb: 1000, gpus: [],
    dev: false, onchain_kms: true, overrides: {}, source: 'admin', refreshed_at: null, removed_at: null, unreachable_since: null, last_error: null, ...o,
  };
}
const img = (n: NodeRow, name: string, o: Partial<NodeImageRow> = {}): NodeImageRow =>
  ({ node_id: n.id, name, version: name.replace(/^\D*/, ''), is_dev: name.includes('dev'), requires_gpu: false, os_image_hash: null, ...o });
/** Both a dev and a production image on each host. */
const stdImages = (ns: NodeRow[]) => ns.flatMap((n) => [img(n, 'dstack-dev-0.5.8'), img(n, 'dstack-0.5.8')]);
const used = (n: NodeRow, o: Partial<NodeUsageRow>): NodeUsageRow => ({ node_id: n.id, cvms: 0, vcpu: 0, memory_mb: 0, disk_gb: 0, ...o });
const snap = (nodes: NodeRow[], usage: NodeUsageRow[] = [], images = stdImages(nodes)): PlacementSnapshot => ({ nodes, images, usage });
const small: PlacementRequest = { vcpu: 1, memoryMb: 2048, diskGb: 20 };

function refused(fn: () => unknown, code: string, message: RegExp): ApiError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ApiError, String(e));
    assert.equal(e.status, 400);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, message);
    return e;
  }
  assert.fail('placed, but a refusal was expected');
}

test('most free memory wins; allocated capacity (not host-reported free) is what counts', () => {
  const a = node('a');
  const b = node('b', { max_memory_mb: 65536 });
  assert.equal(placeWith(snap([a, b]), small).node.name, 'b');
  // b's live CVMs are allocated most of its memory: a has more free
  assert.equal(placeWith(snap([a, b], [used(b, { cvms: 1, memory_mb: 60000, vcpu: 1 })]), small).node.name, 'a');
});

test('node_id: that node or a refusal naming it; unknown, cordoned, offline', () => {
  const a = node('a');
  const b = node('b', { max_vcpu: 2 });
  assert.equal(placeWith(snap([a, b]), { ...small, nodeId: b.id }).node.name, 'b');
  refused(() => placeWith(snap([a, b]), { ...small, nodeId: 999 }), 'ERR-01-001', /Node 999 does not exist or is offline/);
  refused(() => placeWith(snap([a, b]), { ...small, nodeId: b.id, vcpu: 4 }), 'ERR-02-003', new RegExp(`Node b cannot take this CVM: 1 node lacks vCPU \\(need 4, most free 2: b\\)`));
  const c = node('c', { cordoned: true });
  refused(() => placeWith(snap([a, c]), { ...small, nodeId: c.id }), 'ERR-08-005', /Node c .* is cordoned/);
});

test('region: only hosts of the region; an unknown region lists the regions; a full region says what the others are', () => {
  const a = node('a', { region: 'us-east' });
  const b = node('b', { region: 'eu-west', max_vcpu: 4 });
  assert.equal(placeWith(snap([a, b]), { ...small, region: 'eu-west' }).node.name, 'b');
  refused(() => placeWith(snap([a, b]), { ...small, region: 'mars' }), 'ERR-02-002', /No node in region "mars": available regions are eu-west, us-east/);
  refused(() => placeWith(snap([a, b]), { ...small, region: 'eu-west', vcpu: 8 }), 'ERR-02-003',
    /No node can take this CVM: 1 node is in another region \(us-east\); 1 node lacks vCPU \(need 8, most free 4: b\)/);
});

test('labels: every label asked, with its value', () => {
  const a = node('a', { labels: { tier: 'gold', zone: '1' } });
  const b = node('b', { labels: { tier: 'silver' } , max_memory_mb: 99999 });
  assert.equal(placeWith(snap([a, b]), { ...small, labels: { tier: 'gold' } }).node.name, 'a');
  assert.equal(placeWith(snap([a, b]), { ...small, labels: { tier: 'gold', zone: '1' } }).node.name, 'a');
  refused(() => placeWith(snap([a, b]), { ...small, labels: { tier: 'gold', zone: '2' } }), 'ERR-02-002', /2 nodes lack the labels tier=gold, zone=2/);
});

test('on-chain KMS: only hosts with onchain_kms', () => {
  const a = node('a', { onchain_kms: false, max_memory_mb: 99999 });
  const b = node('b');
  assert.equal(placeWith(snap([a, b]), { ...small, onchainKms: true, preferDev: false }).node.name, 'b');
  assert.equal(placeWith(snap([a, b]), small).node.name, 'a');
  refused(() => placeWith(snap([a]), { ...small, onchainKms: true }), 'ERR-02-002', /1 node does not take on-chain KMS apps/);
});

test('images: the one named, else the newest dev or production one; a production image never on a dev host', () => {
  const a = node('a');
  const images = [img(a, 'dstack-dev-0.5.7'), img(a, 'dstack-dev-0.5.8'), img(a, 'dstack-0.5.6')];
  assert.equal(placeWith(snap([a], [], images), small).image.name, 'dstack-dev-0.5.8');
  assert.equal(placeWith(snap([a], [], images), { ...small, preferDev: false }).image.name, 'dstack-0.5.6');
  assert.equal(placeWith(snap([a], [], images), { ...small, image: 'dstack-dev-0.5.7' }).image.name, 'dstack-dev-0.5.7');
  refused(() => placeWith(snap([a], [], images), { ...small, image: 'nope-1' }), 'ERR-02-010', /OS image "nope-1" does not exist: use one of/);
  const b = node('b');
  refused(() => placeWith(snap([a, b], [], [...images, img(b, 'dstack-dev-0.5.8')]), { ...small, image: 'dstack-0.5.6', nodeId: b.id }), 'ERR-02-013',
    /1 node does not have OS image "dstack-0.5.6"/);
  const dev = node('dev', { dev: true, max_memory_mb: 99999 });
  const both = snap([a, dev], [], [...images, ...stdImages([dev])]);
  assert.equal(placeWith(both, small).node.name, 'dev', 'a dev image goes to a dev host');
  assert.equal(placeWith(both, { ...small, preferDev: false }).node.name, 'a', 'a production image does not');
  refused(() => placeWith(snap([dev]), { ...small, preferDev: false }), 'ERR-02-013', /1 node is a dev host, which take only dev images/);
});

test('resources: slots, vCPU, memory and disk each refused by name with the most free', () => {
  const a = node('a', { max_cvms: 2, max_vcpu: 8, max_memory_mb: 8192, max_disk_gb: 100 });
  const b = node('b', { max_cvms: 4, max_vcpu: 4, max_memory_mb: 16384, max_disk_gb: 500 });
  const s = snap([a, b], [used(a, { cvms: 2, vcpu: 2, memory_mb: 4096, disk_gb: 40 }), used(b, { cvms: 1, vcpu: 1, memory_mb: 2048, disk_gb: 100 })]);
  refused(() => placeWith(s, { ...small, vcpu: 4 }), 'ERR-02-003', /No node can take this CVM: 1 node has no free CVM slot; 1 node lacks vCPU \(need 4, most free 3: b\)/);
  refused(() => placeWith(s, { ...small, memoryMb: 20000 }), 'ERR-02-004', /1 node lacks memory \(need 20000 MB, most free 14336 MB: b\)/);
  refused(() => placeWith(s, { ...small, diskGb: 401 }), 'ERR-02-002', /1 node lacks disk \(need 401 GB, most free 400 GB: b\)/);
  refused(() => placeWith(snap([a], [used(a, { cvms: 2 })]), small), 'ERR-02-005', /1 node has no free CVM slot/);
  assert.equal(placeWith(s, { ...small, diskGb: 400 }).node.name, 'b');
  // a capacity of 0 is "not limited"
  const open = node('open', { max_cvms: 0, max_vcpu: 0, max_memory_mb: 0, max_disk_gb: 0 });
  assert.equal(placeWith(snap([open]), { vcpu: 512, memoryMb: 1 << 22, diskGb: 10000 }).node.name, 'open');
});

test('a cordoned host takes nothing; with only cordoned hosts the refusal says so', () => {
  const a = node('a', { cordoned: true, max_memory_mb: 99999 });
  const b = node('b');
  assert.equal(placeWith(snap([a, b]), small).node.name, 'b');
  refused(() => placeWith(snap([a]), small), 'ERR-08-005', /No node can take this CVM: 1 node is cordoned/);
  refused(() => placeWith(snap([]), small), 'ERR-02-002', /register a dstack host first/);
  // the code is the closest miss among the hosts of the region, not the hosts of other regions
  const eu = node('eu', { region: 'eu-west', cordoned: true });
  refused(() => placeWith(snap([a, b, eu]), { ...small, region: 'eu-west' }), 'ERR-08-005', /1 node is cordoned; 2 nodes are in other regions \(us-east\)/);
});

test('GPUs: count, product, named slot; a slot a live CVM holds is not given again; attach_mode all', () => {
  const h100 = { product_id: '2330', description: 'H100' };
  const h200 = { product_id: '2335', description: 'H200' };
  const cpu = node('cpu', { max_memory_mb: 99999 });
  const g = node('g', { gpus: [{ slot: '01:00.0', ...h100 }, { slot: '02:00.0', ...h200 }, { slot: '03:00.0', ...h200 }] });
  const s = (u: NodeUsageRow[] = []) => snap([cpu, g], u);
  const one = gpuRequestOf(null, 1);
  assert.deepEqual(one, { want: [{}] });
  const p = placeWith(s(), { ...small, gpus: one });
  assert.equal(p.node.name, 'g');
  assert.equal(p.gpuSlots.length, 1);
  assert.deepEqual(gpuConfigOf(['01:00.0']), { gpus: [{ slot: '01:00.0' }], attach_mode: 'listed' });
  assert.equal(gpuConfigOf([]), null);
  // by product: both H200s
  const twoH200 = gpuRequestOf({ gpus: [{ slot: '', product_id: '2335' }, { slot: '', product_id: '2335' }] }, 0);
  assert.deepEqual(placeWith(s(), { ...small, gpus: twoH200 }).gpuSlots.sort(), ['02:00.0', '03:00.0']);
  // one H200 held by a live CVM: two are not free any more, one is
  const held = [used(g, { cvms: 1, gpu_slots: ['03:00.0'] })];
  refused(() => placeWith(s(held), { ...small, gpus: twoH200 }), 'ERR-02-007', /2 nodes lack GPUs \(need 2 GPUs \(product 2335\), most free 1: g\)/);
  assert.deepEqual(placeWith(s(held), { ...small, gpus: gpuRequestOf({ gpus: [{ slot: '', product_id: '2335' }] }, 0) }).gpuSlots, ['02:00.0']);
  // a named slot
  assert.deepEqual(placeWith(s(), { ...small, gpus: gpuRequestOf({ gpus: [{ slot: '03:00.0' }] }, 0) }).gpuSlots, ['03:00.0']);
  refused(() => placeWith(s(held), { ...small, gpus: gpuRequestOf({ gpus: [{ slot: '03:00.0' }] }, 0) }), 'ERR-02-007', /slot 03:00.0/);
  // a product nobody has
  refused(() => placeWith(s(), { ...small, gpus: gpuRequestOf({ gpus: [{ slot: '', product_id: 'ffff' }] }, 0) }), 'ERR-02-007', /2 nodes lack GPUs/);
  // all: every GPU of a host with none taken
  assert.equal(placeWith(s(), { ...small, gpus: gpuRequestOf({ gpus: [], attach_mode: 'all' }, 0) }).gpuSlots.length, 3);
  refused(() => placeWith(s(held), { ...small, gpus: { want: [], all: true } }), 'ERR-02-007', /all of a host's GPUs/);
  // a GPU image is preferred for a GPU CVM, never used for a CPU one
  const images = [img(g, 'dstack-dev-0.5.8'), img(g, 'dstack-nvidia-dev-0.5.8', { requires_gpu: true }), img(cpu, 'dstack-dev-0.5.8')];
  assert.equal(placeWith(snap([cpu, g], [], images), { ...small, gpus: one }).image.name, 'dstack-nvidia-dev-0.5.8');
  assert.equal(placeWith(snap([g], [], images), small).image.name, 'dstack-dev-0.5.8');
});

test('spread: among hosts that fit, the one with fewer CVMs of the app, then the most free memory', () => {
  const a = node('a', { max_memory_mb: 99999 });
  const b = node('b');
  const c = node('c', { max_memory_mb: 16384 });
  const usage = [
    { ...used(a, { cvms: 2, memory_mb: 4096 }), app_id: 'app1', app_cvms: 2 },
    { ...used(b, { cvms: 1, memory_mb: 2048 }), app_id: 'app1', app_cvms: 1 },
  ];
  assert.equal(placeWith(snap([a, b, c], usage), { ...small, appId: 'app1' }).node.name, 'c');
  assert.equal(placeWith(snap([a, b], usage), { ...small, appId: 'app1' }).node.name, 'b');
  assert.equal(placeWith(snap([a, b], usage), { ...small, appId: 'other' }).node.name, 'a');
  // placements accumulate in an index: three replicas on three hosts
  const index = new PlacementIndex(snap([a, b, c]));
  const seen = new Set<string>();
  for (let i = 0; i < 3; i++) {
    const req = { ...small, appId: 'app2' };
    const p = index.place(req);
    index.reserve(p, req);
    seen.add(p.node.name);
  }
  assert.equal(seen.size, 3);
});

test('ranked: every host that fits, best first, one left out', () => {
  const a = node('a', { max_memory_mb: 99999 });
  const b = node('b');
  const c = node('c', { max_vcpu: 1 });
  const index = new PlacementIndex(snap([a, b, c]));
  assert.deepEqual(index.ranked({ ...small, vcpu: 2 }).map((p) => p.node.name), ['a', 'b']);
  assert.deepEqual(index.ranked({ ...small, vcpu: 2 }, new Set([a.id])).map((p) => p.node.name), ['b']);
});

test('checkNodeCapacity: the commit-time check of one locked node, keeping the chosen GPU slots if free', () => {
  const g = node('g', { max_vcpu: 4, gpus: [{ slot: 's1', product_id: 'p', description: '' }, { slot: 's2', product_id: 'p', description: '' }] });
  const image = img(g, 'dstack-dev-0.5.8');
  const req = { ...small, image: image.name, gpus: { want: [{}] }, preferredSlots: ['s2'] };
  assert.deepEqual(checkNodeCapacity(g, used(g, {}), image, req), ['s2']);
  assert.deepEqual(checkNodeCapacity(g, used(g, { cvms: 1, gpu_slots: ['s2'] }), image, req), ['s1']);
  refused(() => checkNodeCapacity(g, used(g, { cvms: 1, vcpu: 4 }), image, req), 'ERR-02-003', /lacks vCPU \(need 1, most free 0: g\)/);
  refused(() => checkNodeCapacity({ ...g, status: 'unreachable' }, undefined, image, req), 'ERR-01-001', /is unreachable/);
  refused(() => checkNodeCapacity(g, undefined, null, req), 'ERR-02-013', /no longer has OS image/);
  refused(() => checkNodeCapacity({ ...g, cordoned: true }, undefined, image, req), 'ERR-08-005', /cordoned/);
});
