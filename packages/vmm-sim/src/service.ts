/**
 * `service Vmm` (dstack's `vmm/rpc/proto/vmm_rpc.proto`) and the proxied guest API (`/guest/<Method>`), as pRPC handlers
 * over decoded JSON messages.
 */
import { parseAppCompose } from './compose.ts';
import { SIM_REV, SIM_VERSION } from './config.ts';
import { guestContainers, guestInfo, guestNetworkInfo, guestSysInfo } from './guest.ts';
import type { SimHost } from './host.ts';
import type { GpuConfig, NetworkingConfig, PortMapping, VmConfiguration } from './types.ts';
import { errorMessage, newUuid, sha256Hex, sleep } from './util.ts';
import { SimVm } from './vm.ts';
import { Fields, RpcError } from './wire.ts';

export type Handler = (req: Fields) => unknown | Promise<unknown>;

const NAME_PATTERN = /^[A-Za-z0-9\-_. @~!$^()]*$/;

function parsePorts(list: Fields[]): PortMapping[] {
  return list.map((p) => ({
    protocol: p.str('protocol'),
    host_port: p.u32('host_port'),
    vm_port: p.u32('vm_port'),
    host_address: p.str('host_address'),
  }));
}

function parseGpus(f: Fields | undefined): GpuConfig | null {
  if (!f) return null;
  return { gpus: f.list('gpus').map((g) => ({ slot: g.str('slot') })), attach_mode: f.str('attach_mode') };
}

function parseNetworking(f: Fields | undefined): NetworkingConfig | null {
  if (!f) return null;
  return { mode: f.str('mode'), bridge_name: f.str('bridge_name') };
}

/** Decodes a `VmConfiguration` message (no validation beyond types). */
export function parseVmConfiguration(f: Fields): VmConfiguration {
  const appId = f.optStr('app_id');
  return {
    name: f.str('name'),
    image: f.str('image'),
    compose_file: f.str('compose_file'),
    vcpu: f.u32('vcpu'),
    memory: f.u32('memory'),
    disk_size: f.u32('disk_size'),
    ports: parsePorts(f.list('ports')),
    encrypted_env: f.bytes('encrypted_env'),
    app_id: appId === undefined || appId === '' ? null : appId,
    user_config: f.str('user_config'),
    hugepages: f.bool('hugepages'),
    pin_numa: f.bool('pin_numa'),
    gpus: parseGpus(f.obj('gpus')),
    kms_urls: f.strList('kms_urls'),
    gateway_urls: f.strList('gateway_urls'),
    stopped: f.bool('stopped'),
    no_tee: f.bool('no_tee'),
    networking: parseNetworking(f.obj('networking')),
    networks: f.list('networks').map((n) => parseNetworking(n)!),
    simulated_tee: f.optStr('simulated_tee') ?? null,
  };
}

function validateName(name: string): void {
  if (!NAME_PATTERN.test(name)) {
    throw new RpcError(`Invalid name: ${name} (allowed characters: A-Z a-z 0-9 - _ . space @ ~ ! $ ^ ( ))`);
  }
}

function validateCompose(composeFile: string): void {
  try {
    parseAppCompose(composeFile);
  } catch (err) {
    throw new RpcError(`Invalid compose file: ${errorMessage(err)}`);
  }
}

function validatePorts(ports: PortMapping[]): void {
  if (ports.length > 0) throw new RpcError('Port mapping is disabled');
}

function validateNetworking(n: NetworkingConfig | null, networks: NetworkingConfig[]): void {
  for (const net of [...(n ? [n] : []), ...networks]) {
    if (net.mode !== '' && net.mode !== 'user') {
      throw new RpcError(`Unsupported networking mode: ${net.mode} (supported: user)`);
    }
  }
}

export function createVmmService(host: SimHost): Record<string, Handler> {
  const cfg = host.config;

  function checkImage(name: string): void {
    if (!host.image(name)) throw new RpcError(`Failed to load image: image ${JSON.stringify(name)} not found`);
  }

  function checkGpus(gpus: GpuConfig | null, exceptVmId?: string): void {
    if (!gpus) return;
    const mode = gpus.attach_mode || 'listed';
    if (mode !== 'listed' && mode !== 'all') throw new RpcError(`Invalid GPU attach mode: ${gpus.attach_mode}`);
    if (mode === 'all') {
      if (cfg.gpus.length === 0) throw new RpcError('GPU is not enabled');
      throw new RpcError('Attaching all GPUs is not allowed');
    }
    if (gpus.gpus.length === 0) return;
    if (cfg.gpus.length === 0) throw new RpcError('GPU is not enabled');
    const used = host.usage(exceptVmId).gpuSlots;
    const seen = new Set<string>();
    for (const { slot } of gpus.gpus) {
      if (!cfg.gpus.some((g) => g.slot === slot)) throw new RpcError(`GPU ${slot} not found`);
      if (used.has(slot) || seen.has(slot)) throw new RpcError(`GPU ${slot} is already in use`);
      seen.add(slot);
    }
  }

  /** Checks that vcpu/memory/disk (and one more CVM, for a new VM) fit next to the other VMs. */
  function checkCapacity(want: { vcpu: number; memory: number; disk_size: number }, exceptVmId?: string): void {
    if (want.vcpu === 0) throw new RpcError('vcpu must be greater than 0');
    if (want.memory === 0) throw new RpcError('memory must be greater than 0');
    if (want.disk_size === 0) throw new RpcError('disk_size must be greater than 0');
    const r = cfg.resources;
    const u = host.usage(exceptVmId);
    if (!exceptVmId && u.cvms + 1 > r.maxCvms) {
      throw new RpcError(`insufficient resources: the host already has the maximum of ${r.maxCvms} CVMs`);
    }
    if (want.disk_size > r.maxDiskGb) {
      throw new RpcError(`Disk size is too large, max is ${r.maxDiskGb}GB`);
    }
    const check = (what: string, used: number, asked: number, max: number, unit: string): void => {
      if (used + asked > max) {
        throw new RpcError(
          `insufficient resources: requested ${asked}${unit} ${what}, but only ${Math.max(0, max - used)}${unit} of ${max}${unit} are free`,
        );
      }
    };
    check('vCPU', u.vcpu, want.vcpu, r.maxVcpu, '');
    check('memory', u.memory, want.memory, r.maxMemoryMb, 'MB');
    check('disk', u.disk, want.disk_size, r.maxDiskGb, 'GB');
  }

  function checkStoppedForResize(vm: SimVm): void {
    if (vm.status !== 'stopped' && vm.status !== 'exited') {
      throw new RpcError(`vm should be stopped before resize: ${vm.id}`);
    }
  }

  /** Shared by UpdateVm and ResizeVm: optional vcpu / memory / disk_size (grow only) / image. */
  function applyResources(vm: SimVm, f: Fields, next: VmConfiguration): void {
    const vcpu = f.optU32('vcpu');
    const memory = f.optU32('memory');
    const disk = f.optU32('disk_size');
    const image = f.optStr('image');
    if (vcpu === undefined && memory === undefined && disk === undefined && image === undefined) return;
    checkStoppedForResize(vm);
    if (image !== undefined) {
      checkImage(image);
      next.image = image;
    }
    if (disk !== undefined && disk < vm.configuration.disk_size) throw new RpcError('Cannot shrink disk size');
    next.vcpu = vcpu ?? next.vcpu;
    next.memory = memory ?? next.memory;
    next.disk_size = disk ?? next.disk_size;
    checkCapacity(next, vm.id);
  }

  const byId = (f: Fields): SimVm => host.get(f.str('id'));

  return {
    Version: () => ({ version: SIM_VERSION, rev: SIM_REV }),

    GetMeta: () => ({
      kms: { url: cfg.kmsUrls[0] ?? '', urls: cfg.kmsUrls },
      gateway: {
        url: `https://gateway.${cfg.gatewayBaseDomain}:9202`,
        base_domain: cfg.gatewayBaseDomain,
        port: cfg.gatewayPort,
        agent_port: cfg.gatewayAgentPort,
        urls: [`https://gateway.${cfg.gatewayBaseDomain}:9202`],
      },
      resources: {
        max_cvm_number: cfg.resources.maxCvms,
        max_allocable_vcpu: cfg.resources.maxVcpu,
        max_allocable_memory_in_mb: cfg.resources.maxMemoryMb,
        max_disk_size_in_gb: cfg.resources.maxDiskGb,
      },
      networking: { supported_modes: ['user'], default_mode: 'user', default_bridge: '' },
    }),

    ListImages: () => ({
      images: cfg.images.map((img) => ({
        name: img.name,
        description: JSON.stringify({
          bios: 'ovmf.fd',
          kernel: 'bzImage',
          cmdline: 'console=ttyS0 init=/init panic=1 net.ifnames=0 biosdevname=0 mce=off oops=panic pci=noearly',
          initrd: 'initramfs.cpio.gz',
          rootfs: 'rootfs.img.verity',
          version: img.version,
          shared_ro: true,
          is_dev: img.isDev,
          os_image_hash: img.osImageHash,
          requires_gpu: img.requiresGpu ?? false,
        }),
        version: img.version,
        is_dev: img.isDev,
      })),
    }),

    ListGpus: () => {
      const used = host.usage().gpuSlots;
      return {
        gpus: cfg.gpus.map((g) => ({ ...g, is_free: !used.has(g.slot) })),
        allow_attach_all: false,
      };
    },

    CreateVm: async (f) => {
      const config = parseVmConfiguration(f);
      if (!config.name) throw new RpcError('Invalid name: the name must not be empty');
      validateName(config.name);
      validatePorts(config.ports);
      checkImage(config.image);
      validateCompose(config.compose_file);
      validateNetworking(config.networking, config.networks);
      checkCapacity(config);
      checkGpus(config.gpus);
      let appId: string;
      if (config.app_id !== null) {
        appId = config.app_id.replace(/^0x/i, '').toLowerCase();
        if (!/^[0-9a-f]{40}$/.test(appId)) throw new RpcError(`Invalid app_id: ${config.app_id} (expected 20 bytes of hex)`);
      } else {
        appId = sha256Hex(config.compose_file).slice(0, 40);
      }
      const id = newUuid();
      const vm = new SimVm(host, {
        id,
        name: config.name,
        app_id: appId,
        created_at_ms: Date.now(),
        configuration: { ...config, app_id: appId, stopped: false },
        started: false,
        instance: null,
      });
      host.vms.set(id, vm);
      host.persist();
      cfg.log(`vm ${id}: created (${config.name}, app ${appId})`);
      if (!config.stopped) vm.start();
      if (cfg.createDelayMs > 0) await sleep(cfg.createDelayMs);
      return { id };
    },

    StartVm: (f) => {
      byId(f).start();
      return {};
    },

    StopVm: (f) => {
      byId(f).stop();
      return {};
    },

    ShutdownVm: (f) => {
      byId(f).shutdown();
      return {};
    },

    RemoveVm: (f) => {
      byId(f).remove();
      return {};
    },

    UpdateVm: (f) => updateVm(f),
    UpgradeApp: (f) => updateVm(f),

    ResizeVm: (f) => {
      const vm = byId(f);
      if (vm.removing) throw new RpcError('vm is being removed');
      const next = structuredClone(vm.configuration);
      applyResources(vm, f, next);
      vm.configuration = next;
      host.persist();
      return {};
    },

    GetComposeHash: (f) => {
      const config = parseVmConfiguration(f);
      validateName(config.name);
      validateCompose(config.compose_file);
      return { hash: sha256Hex(config.compose_file) };
    },

    Status: (f) => {
      const ids = f.strList('ids');
      const keyword = f.str('keyword');
      const brief = f.bool('brief');
      const page = f.u32('page');
      const pageSize = f.u32('page_size');
      const matching = host
        .sortedVms()
        .filter((vm) => ids.length === 0 || ids.includes(vm.id))
        .filter(
          (vm) =>
            !keyword ||
            vm.name.includes(keyword) ||
            vm.id.includes(keyword) ||
            vm.appId.includes(keyword) ||
            vm.configuration.image.includes(keyword),
        );
      const pageItems =
        page === 0 || pageSize === 0 ? matching : matching.slice((page - 1) * pageSize, page * pageSize);
      return {
        vms: pageItems.map((vm) => vm.toVmInfo(brief)),
        port_mapping_enabled: false,
        total: matching.length,
      };
    },

    GetInfo: (f) => {
      const vm = host.vms.get(f.str('id'));
      return vm ? { found: true, info: vm.toVmInfo(false) } : { found: false, info: null };
    },

    GetAppEnvEncryptPubKey: async (f) => {
      const appId = f.bytes('app_id');
      const kms = cfg.kmsUrls[0];
      if (!kms) throw new RpcError('KMS is not configured');
      const url = `${kms.replace(/\/+$/, '')}/prpc/GetAppEnvEncryptPubKey?json`;
      let res: Response;
      try {
        res = await fetch(url, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ app_id: appId }),
          signal: AbortSignal.timeout(15_000),
        });
      } catch (err) {
        const cause = (err as { cause?: unknown }).cause;
        throw new RpcError(`Failed to get app env encrypt pub key: ${errorMessage(cause ?? err)}`);
      }
      const text = await res.text();
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        throw new RpcError(`Failed to get app env encrypt pub key: KMS answered HTTP ${res.status}: ${text.slice(0, 200)}`);
      }
      if (!res.ok) {
        const msg = (body as { error?: unknown }).error;
        throw new RpcError(`Failed to get app env encrypt pub key: ${typeof msg === 'string' ? msg : text}`);
      }
      return body;
    },
  };

  function updateVm(f: Fields): { id: string } {
    const vm = byId(f);
    if (vm.removing) throw new RpcError('vm is being removed');
    const next = structuredClone(vm.configuration);
    const compose = f.str('compose_file');
    if (compose) {
      validateCompose(compose);
      next.compose_file = compose;
    }
    const env = f.bytes('encrypted_env');
    if (env) next.encrypted_env = env;
    const userConfig = f.str('user_config');
    if (userConfig) next.user_config = userConfig;
    if (f.bool('update_ports')) {
      const ports = parsePorts(f.list('ports'));
      validatePorts(ports);
      next.ports = ports;
    }
    if (f.bool('update_kms_urls')) next.kms_urls = f.strList('kms_urls');
    if (f.bool('update_gateway_urls')) next.gateway_urls = f.strList('gateway_urls');
    if (f.has('gpus')) {
      const gpus = parseGpus(f.obj('gpus'));
      checkGpus(gpus, vm.id);
      next.gpus = gpus;
    }
    const noTee = f.optBool('no_tee');
    if (noTee !== undefined) next.no_tee = noTee;
    if (f.bool('update_networking')) {
      const networks = f.list('networks').map((n) => parseNetworking(n)!);
      validateNetworking(null, networks);
      next.networks = networks;
    }
    applyResources(vm, f, next);
    vm.configuration = next;
    host.persist();
    return { id: compose ? sha256Hex(compose).slice(0, 40) : '' };
  }
}

export function createGuestService(host: SimHost): Record<string, Handler> {
  const agentOf = (f: Fields) => host.get(f.str('id')).agent();
  return {
    Info: (f) => {
      const { guest, ctx } = agentOf(f);
      return guestInfo(guest, ctx);
    },
    SysInfo: (f) => {
      const { guest, ctx } = agentOf(f);
      return guestSysInfo(guest, ctx);
    },
    NetworkInfo: (f) => {
      const { guest, ctx } = agentOf(f);
      return guestNetworkInfo(guest, ctx);
    },
    ListContainers: (f) => guestContainers(agentOf(f).guest),
    Shutdown: (f) => {
      host.get(f.str('id')).shutdown();
      return {};
    },
  };
}
