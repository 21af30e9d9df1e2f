/** Public option/view types of the simulator, and the dstack-vmm wire types it speaks. */
import type { prpc, z } from '@opencvm/contract';
import type { FaultSpec } from './faults.ts';

export interface VmmSimOptions {
  /** Listen address, default 127.0.0.1. */
  host?: string;
  /** Listen port, default 0 = a free port. */
  port?: number;
  /** Host name, default "sim-1". */
  name?: string;
  /**
   * A region label, default "". dstack-vmm's API has no region: the simulator only shows it on its own
   * `GET /sim/host` (and the program prints it).
   */
  region?: string;
  /**
   * If set, VM records persist to `<dataDir>/vmm-sim.json` (atomic write). On restart VMs that should be
   * running boot again; guest state (incl. the decrypted env) is RAM-only and is rebuilt by booting.
   */
  dataDir?: string;
  /** Total simulated boot time in ms, default 2000. */
  bootMs?: number;
  /** Graceful shutdown duration in ms, default 500. */
  shutdownMs?: number;
  /**
   * CreateVm answers this long (ms, default 0) after the VM exists: a slow host, whose VM is already listed by
   * `Status` while the caller still waits for its id (what a control plane that dies meanwhile must cope with).
   */
  createDelayMs?: number;
  /** Default KMS urls when a VmConfiguration has none. */
  kmsUrls?: string[];
  /** Bearer token the simulated guest presents to the KMS (stands in for TDX attestation). */
  kmsToken?: string;
  /**
   * If set, every route needs `Authorization: Bearer <t>` | `X-Admin-Token: <t>` | Basic with password <t> |
   * `?token=<t>` (GET); otherwise 401 with `WWW-Authenticate: Basic realm="dstack-vmm API"`.
   */
  authToken?: string;
  /** 64 hex; default derived from the name. */
  deviceId?: string;
  /** Default "<name>.dstack.localhost". */
  gatewayBaseDomain?: string;
  /**
   * Capacity, as `GetMeta` reports it (`max_cvm_number`, `max_allocable_vcpu`, `max_allocable_memory_in_mb`,
   * `max_disk_size_in_gb`) and as CreateVm enforces it. Defaults: 64 CVMs, 32 vCPU, 65536 MB, 2000 GB.
   */
  resources?: { maxCvms?: number; maxVcpu?: number; maxMemoryMb?: number; maxDiskGb?: number };
  /** Default: dstack-0.5.8 (prod), dstack-dev-0.5.8 (dev), dstack-0.5.7 (prod), dstack-nvidia-0.5.8 (prod, gpu). */
  images?: SimImage[];
  /** Default none. */
  gpus?: { slot: string; product_id: string; description: string }[];
  /** Diagnostics sink; default silent. */
  log?: (line: string) => void;
}

export interface SimImage {
  name: string;
  version: string;
  isDev: boolean;
  requiresGpu?: boolean;
  osImageHash: string;
}

export interface VmmSim {
  /** http://host:port */
  url: string;
  /** Stops timers and the server. */
  close(): Promise<void>;
  /** Snapshot incl. guest state (test introspection). */
  listVms(): SimVmView[];
  getVm(id: string): SimVmView | undefined;
  /**
   * The next `times` (default 1) calls of that pRPC method fail with HTTP 400 {"error"}; method "boot"
   * makes the next boot fail with boot_error = error. Guest API methods are named "guest.<Method>".
   */
  injectFault(f: { method: string; error: string; times?: number }): void;
  /** Adds a fault of any kind (README: "Control API"); returns its id for `clearFaults`. */
  addFault(spec: FaultSpec): number;
  /** Clears one fault, or all of them; a call held by a cleared `hang` goes on. Returns how many were cleared. */
  clearFaults(id?: number): number;
  /**
   * A host restart while the process keeps running: `wipe` (default) forgets every VM and its persisted
   * record; `stopped` keeps the VMs, stopped; `reboot` keeps them and boots those meant to run. Returns how
   * many VMs the host had.
   */
  restart(mode?: 'wipe' | 'stopped' | 'reboot'): number;
}

export interface SimContainerView {
  name: string;
  image: string;
  state: string;
}

export interface SimVmView {
  id: string;
  name: string;
  status: string;
  appId: string;
  /** null until the guest first reported it; "" with `no_instance_id`. */
  instanceId: string | null;
  bootProgress: string;
  bootError: string;
  shutdownProgress: string;
  /** VmConfiguration as stored, JSON form (as in VmInfo.configuration). */
  configuration: any;
  /** sha256 of configuration.compose_file. */
  composeHash: string;
  guest: {
    env: Record<string, string> | null;
    droppedEnvKeys: string[];
    containers: SimContainerView[];
    /** the SSH keys this boot's user_config authorized (`ssh_authorized_keys`), as a dstack guest reads `/dstack/user_config` */
    sshAuthorizedKeys: string[];
  };
}

// ---- dstack-vmm wire types (JSON form): declared once, in @opencvm/contract, for this host and the server's driver ----

export type PortMapping = z.output<typeof prpc.portMappingSchema>;
export type GpuConfig = z.output<typeof prpc.gpuConfigSchema>;
export type NetworkingConfig = z.output<typeof prpc.networkingConfigSchema>;
export type VmConfiguration = prpc.VmConfiguration;
export type GuestEvent = z.output<typeof prpc.guestEventSchema>;
export type VmInfo = prpc.VmInfo;
/** The KMS `AppKeyResponse` (hex bytes). */
export type AppKeys = prpc.AppKeys;
