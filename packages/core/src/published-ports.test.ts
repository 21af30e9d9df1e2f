import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PUBLISHED_PORTS_CACHE_LIMIT, publishedPorts, publishedPortsCacheSize, publishedPortsOf } from './published-ports.ts';
import { cvmDetailV2025, cvmInfoV2026, gatewayUrls, type CvmView } from './shapes.ts';
import { cvmListItemV2025 } from './shapes-lists.ts';
import { networkShape } from './runtime-shapes.ts';

const yaml = `services:
  web:
    image: nginx
    ports:
      - "8080:80"
      - "127.0.0.1:9000:9000/tcp"
      - "5353:53/udp"
  worker:
    image: busybox
`;
const hash = (n: number) => n.toString(16).padStart(64, '0');

test('publishedPortsOf: the same ports as publishedPorts, parsed once per compose hash', () => {
  const first = publishedPortsOf(hash(1), yaml);
  assert.deepEqual(first, publishedPorts(yaml));
  assert.deepEqual(first, [8080, 9000]);
  assert.ok(Object.isFrozen(first), 'the answer is shared, so it cannot be changed');

  // the hit path: the very same array, and the YAML is not read again (the hash stands for the text)
  assert.equal(publishedPortsOf(hash(1), yaml), first);
  assert.equal(publishedPortsOf(hash(1), 'services: [not even yaml'), first);
  assert.deepEqual(publishedPortsOf(hash(2), 'services: [not even yaml'), []);

  // no hash, no caching
  const sizeBefore = publishedPortsCacheSize();
  assert.deepEqual(publishedPortsOf('', yaml), [8080, 9000]);
  assert.notEqual(publishedPortsOf('', yaml), publishedPortsOf('', yaml));
  assert.equal(publishedPortsCacheSize(), sizeBefore);
});

test('publishedPortsOf: the cache is bounded and drops the least recently used hash', () => {
  const keep = publishedPortsOf(hash(10), yaml);
  const dropped = publishedPortsOf(hash(11), yaml);
  for (let i = 0; i < PUBLISHED_PORTS_CACHE_LIMIT + 500; i++) {
    if (i % 100 === 0) assert.equal(publishedPortsOf(hash(10), yaml), keep, 'a hash in use stays');
    publishedPortsOf(hash(100_000 + i), `services:\n  s:\n    image: x\n    ports: ["${1000 + (i % 60_000)}:80"]\n`);
    assert.ok(publishedPortsCacheSize() <= PUBLISHED_PORTS_CACHE_LIMIT);
  }
  assert.equal(publishedPortsCacheSize(), PUBLISHED_PORTS_CACHE_LIMIT);
  assert.equal(publishedPortsOf(hash(10), yaml), keep);
  const again = publishedPortsOf(hash(11), yaml);
  assert.notEqual(again, dropped, 'evicted, so parsed again');
  assert.deepEqual(again, dropped);
  assert.deepEqual(publishedPortsOf(hash(100_000 + PUBLISHED_PORTS_CACHE_LIMIT + 499), ''), [1000 + PUBLISHED_PORTS_CACHE_LIMIT + 499], 'the newest is cached');
});

function view(over: Partial<CvmView> = {}): CvmView {
  const appCompose = JSON.stringify({ docker_compose_file: yaml, gateway_enabled: true, manifest_version: 2, runner: 'docker-compose' });
  const t = new Date('2025-01-01T00:00:00Z');
  return {
    id: 1, vm_uuid: '6f1e3c1a-0000-4000-8000-000000000001', name: 'gw-app', status: 'running',
    app_id: 'a'.repeat(40), instance_id: 'b'.repeat(40),
    workspace: { id: 1, name: 'w', slug: 'w' }, creator: null,
    node: { id: 1, name: 'n', region: 'r', device_id: 'd', ppid: 'p', fmspc: 'f', status: 'online', version: null, gateway_base_domain: 'gw.example.com' },
    kms: { id: 'k', slug: null, kms_type: 'phala', url: 'https://kms', version: 'v', chain_id: null, kms_contract_address: null, gateway_app_id: null },
    env_pubkey: null, contract_address: null, deployer_address: null, instance_type: null,
    vcpu: 1, memory_mb: 2048, disk_gb: 20, image: 'dstack-0.5.3', image_version: null, image_is_dev: false, os_image_hash: null,
    compose_hash: hash(500_000), app_compose: appCompose, listed: false,
    boot_progress: null, boot_error: null, shutdown_progress: null, started_at: t, exited_at: null, created_at: t, updated_at: t, scheduled_delete_at: null, progress: null,
    ...over,
  };
}

test('gateway URLs: one answer for public_urls (v2025 detail and list), endpoints (v2026) and /network', () => {
  const c = view();
  const urls = [
    { app: `https://${'a'.repeat(40)}-8080.gw.example.com`, instance: `https://${'b'.repeat(40)}-8080.gw.example.com` },
    { app: `https://${'a'.repeat(40)}-9000.gw.example.com`, instance: `https://${'b'.repeat(40)}-9000.gw.example.com` },
  ];
  assert.deepEqual(gatewayUrls(c), urls);
  assert.deepEqual(cvmDetailV2025(c).public_urls, urls);
  assert.deepEqual(cvmListItemV2025(c).public_urls, urls);
  assert.deepEqual(cvmInfoV2026(c).endpoints, urls);
  assert.deepEqual(cvmInfoV2026(c, true).endpoints, urls);
  assert.deepEqual(networkShape(c, null).public_urls, urls);

  // no instance id yet: the instance form is empty; no gateway, or no base domain: no URLs
  assert.deepEqual(cvmInfoV2026(view({ instance_id: null })).endpoints.map((u) => u.instance), ['', '']);
  const off = view({ compose_hash: hash(500_001), app_compose: JSON.stringify({ docker_compose_file: yaml, gateway_enabled: false }) });
  assert.deepEqual(cvmDetailV2025(off).public_urls, []);
  assert.deepEqual(cvmInfoV2026(view({ node: { ...c.node, gateway_base_domain: null } })).endpoints, []);
});
