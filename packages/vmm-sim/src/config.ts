/** Simulator options with defaults applied. */
import type { SimImage, VmmSimOptions } from './types.ts';
import { sha256Hex } from './util.ts';

export const SIM_VERSION = '0.5.8-sim';
export const SIM_REV = 'vmm-sim';

export interface HostConfig {
  host: string;
  port: number;
  name: string;
  region: string;
  dataDir: string | undefined;
  bootMs: number;
  shutdownMs: number;
  createDelayMs: number;
  kmsUrls: string[];
  kmsToken: string | undefined;
  authToken: string | undefined;
  deviceId: string;
  gatewayBaseDomain: string;
  gatewayPort: number;
  gatewayAgentPort: number;
  resources: { maxCvms: number; maxVcpu: number; maxMemoryMb: number; maxDiskGb: number };
  images: SimImage[];
  gpus: { slot: string; product_id: string; description: string }[];
  log: (line: string) => void;
}

const imageHash = (name: string): string => sha256Hex(`vmm-sim-os-image:${name}`);

export function defaultImages(): SimImage[] {
  return [
    { name: 'dstack-0.5.8', version: '0.5.8', isDev: false, osImageHash: imageHash('dstack-0.5.8') },
    { name: 'dstack-dev-0.5.8', version: '0.5.8', isDev: true, osImageHash: imageHash('dstack-dev-0.5.8') },
    { name: 'dstack-0.5.7', version: '0.5.7', isDev: false, osImageHash: imageHash('dstack-0.5.7') },
    {
      name: 'dstack-nvidia-0.5.8',
      version: '0.5.8',
      isDev: false,
      requiresGpu: true,
      osImageHash: imageHash('dstack-nvidia-0.5.8'),
    },
  ];
}

export function resolveConfig(opts: VmmSimOptions = {}): HostConfig {
  const name = opts.name ?? 'sim-1';
  const deviceId = (opts.deviceId ?? sha256Hex(`vmm-sim-device:${name}`)).replace(/^0x/i, '').toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(deviceId)) throw new Error('vmm-sim: deviceId must be 64 hex characters');
  const r = opts.resources ?? {};
  return {
    host: opts.host ?? '127.0.0.1',
    port: opts.port ?? 0,
    name,
    region: opts.region ?? '',
    dataDir: opts.dataDir,
    bootMs: Math.max(0, opts.bootMs ?? 2000),
    shutdownMs: Math.max(0, opts.shutdownMs ?? 500),
    createDelayMs: Math.max(0, opts.createDelayMs ?? 0),
    kmsUrls: opts.kmsUrls ?? [],
    kmsToken: opts.kmsToken,
    authToken: opts.authToken || undefined,
    deviceId,
    gatewayBaseDomain: opts.gatewayBaseDomain ?? `${name}.dstack.localhost`,
    gatewayPort: 443,
    gatewayAgentPort: 8090,
    resources: {
      maxCvms: r.maxCvms ?? 64,
      maxVcpu: r.maxVcpu ?? 32,
      maxMemoryMb: r.maxMemoryMb ?? 65536,
      maxDiskGb: r.maxDiskGb ?? 2000,
    },
    images: opts.images ?? defaultImages(),
    gpus: opts.gpus ?? [],
    log: opts.log ?? (() => {}),
  };
}
