/**
 * One simulated CVM: the VMM's view (manifest, `started` flag, process, progress reported by the
 * guest, events) and the status state machine dstack-vmm reports, driving the simulated guest boot.
 *
 * Status = removing | f(started flag, process running): running / exited / stopping / stopped.
 */
import { composeServices, gatewayEnabledOf, keyProviderOf, parseAppCompose } from './compose.ts';
import type { HostConfig } from './config.ts';
import {
  authorizedKeysOf,
  decryptGuestEnv,
  keyProviderIdOf,
  localAppKeys,
  newContainer,
  requestAppKeys,
  type GuestContext,
  type GuestRuntime,
  type MeasuredEvent,
} from './guest.ts';
import { VmLogs } from './logs.ts';
import type { StoredVm } from './store.ts';
import type { GuestEvent, SimImage, SimVmView, VmConfiguration, VmInfo } from './types.ts';
import { RpcError } from './wire.ts';
import type { FaultTable } from './faults.ts';
import { errorMessage, formatDuration, isAbortError, randomHex, sha256Hex, sleep } from './util.ts';

/** What a VM needs from its host. */
export interface VmHost {
  readonly config: HostConfig;
  image(name: string): SimImage | undefined;
  /** Writes the VM records (after any change of a persisted field). */
  persist(): void;
  /** Consumes one injected fault for `method`, returning its error message. */
  takeFault(method: string): string | undefined;
  /** The injected faults (a boot held by a `hang` fault waits on them). */
  readonly faults: Pick<FaultTable, 'take' | 'hold'>;
  /** Called when a removal completes: the host forgets the VM. */
  removed(vm: SimVm): void;
}

const EVENT_BUFFER_SIZE = 20;
const REMOVE_DELAY_MS = 150;
const GREEN_OK = '[\x1b[0;32m  OK  \x1b[0m]';

export class SimVm {
  readonly id: string;
  readonly name: string;
  readonly appId: string;
  readonly createdAtMs: number;
  configuration: VmConfiguration;
  /** vm-state.json: the VM should be running. */
  started: boolean;
  instance: StoredVm['instance'];

  processRunning = false;
  removing = false;
  bootProgress = '';
  bootError = '';
  shutdownProgress = '';
  events: GuestEvent[] = [];
  processStartedAt: number | undefined;
  processStoppedAt: number | undefined;
  guest: GuestRuntime | null = null;
  readonly logs = new VmLogs();

  private abort: AbortController | null = null;
  private shuttingDown = false;
  private removeTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly host: VmHost,
    stored: StoredVm,
  ) {
    this.id = stored.id;
    this.name = stored.name;
    this.appId = stored.app_id;
    this.createdAtMs = stored.created_at_ms;
    this.configuration = stored.configuration;
    this.started = stored.started;
    this.instance = stored.instance;
  }

  toStored(): StoredVm {
    return {
      id: this.id,
      name: this.name,
      app_id: this.appId,
      created_at_ms: this.createdAtMs,
      configuration: this.configuration,
      started: this.started,
      instance: this.instance,
    };
  }

  get status(): 'running' | 'exited' | 'stopping' | 'stopped' | 'removing' {
    if (this.removing) return 'removing';
    if (this.started) return this.processRunning ? 'running' : 'exited';
    return this.processRunning ? 'stopping' : 'stopped';
  }

  // ------------------------------------------------------------------------------------------
  // Lifecycle (VMM side)

  start(): void {
    if (this.removing) throw new RpcError('vm is being removed');
    if (this.processRunning) {
      throw new RpcError(this.started ? 'vm is already running' : 'vm is stopping, try again when it has stopped');
    }
    this.started = true;
    this.host.persist();
    this.processRunning = true;
    this.processStartedAt = Date.now();
    this.processStoppedAt = undefined;
    this.bootProgress = 'booting';
    this.bootError = '';
    this.shutdownProgress = '';
    this.guest = null;
    this.abort = new AbortController();
    const signal = this.abort.signal;
    this.runBoot(signal).catch((err) => {
      if (isAbortError(err) || signal.aborted) return;
      this.host.config.log(`vm ${this.id}: unexpected boot error: ${errorMessage(err)}`);
      this.failBoot(`internal simulator error: ${errorMessage(err)}`);
    });
  }

  /** StopVm: kill the process now; the VM is no longer meant to run. */
  stop(): void {
    if (this.removing) throw new RpcError('vm is being removed');
    if (!this.processRunning && !this.started) throw new RpcError('vm is not running');
    this.started = false;
    this.host.persist();
    if (this.processRunning) {
      this.serial('qemu-system-x86_64: terminating on signal 15 from pid 1');
      this.processExit();
    } else {
      this.bootProgress = 'N/A';
    }
  }

  /** ShutdownVm / guest Shutdown: the guest stops its containers and powers off. */
  shutdown(): void {
    if (this.removing) throw new RpcError('vm is being removed');
    if (!this.processRunning) throw new RpcError('vm is not running');
    if (this.shuttingDown) throw new RpcError('vm is already shutting down');
    this.abort?.abort();
    this.abort = new AbortController();
    const signal = this.abort.signal;
    this.runShutdown(signal).catch((err) => {
      if (isAbortError(err) || signal.aborted) return;
      this.host.config.log(`vm ${this.id}: unexpected shutdown error: ${errorMessage(err)}`);
    });
  }

  /** RemoveVm: kill the process if any, show `removing`, forget the VM shortly after. */
  remove(): void {
    if (this.removing) throw new RpcError('vm is being removed');
    this.removing = true;
    this.started = false;
    if (this.processRunning) {
      this.serial('qemu-system-x86_64: terminating on signal 15 from pid 1');
      this.processExit();
    }
    this.host.persist();
    this.removeTimer = setTimeout(() => {
      this.removeTimer = undefined;
      this.logs.endFollowers();
      this.host.removed(this);
    }, REMOVE_DELAY_MS);
  }

  /** Host shutdown: stop all timers and streams, keep the persisted state as it is. */
  dispose(): void {
    this.abort?.abort();
    this.abort = null;
    if (this.removeTimer) clearTimeout(this.removeTimer);
    this.logs.endFollowers();
  }

  private processExit(): void {
    this.abort?.abort();
    this.abort = null;
    this.shuttingDown = false;
    this.processRunning = false;
    this.processStoppedAt = Date.now();
    this.guest = null;
    if (!this.started) this.bootProgress = 'N/A';
    this.logs.endFollowers();
  }

  // ------------------------------------------------------------------------------------------
  // Guest notifications (what the guest reports over the host API's `Notify`)

  private notify(event: string, body: string): void {
    this.events.push({ event, body, timestamp: Date.now() });
    if (this.events.length > EVENT_BUFFER_SIZE) this.events.splice(0, this.events.length - EVENT_BUFFER_SIZE);
    switch (event) {
      case 'boot.progress':
        this.bootProgress = body;
        this.serial(`dstack-prepare.sh[412]: boot progress: ${body}`);
        break;
      case 'boot.error':
        this.bootError = body;
        this.serial(`\x1b[0;31mERROR\x1b[0m dstack-prepare.sh[412]: ${body}`);
        break;
      case 'shutdown.progress':
        this.shutdownProgress = body;
        this.serial(`dstack-guest-agent[598]: shutdown progress: ${body}`);
        if (body === 'powering off') {
          this.started = false;
          this.host.persist();
        }
        break;
      case 'instance.info': {
        const info = JSON.parse(body) as { instance_id_seed: string; instance_id: string };
        this.instance = { instance_id_seed: info.instance_id_seed, instance_id: info.instance_id };
        this.host.persist();
        break;
      }
    }
  }

  private serial(line: string): void {
    const t = this.processStartedAt ? (Date.now() - this.processStartedAt) / 1000 : 0;
    this.logs.append('serial', `[${t.toFixed(6).padStart(12)}] ${line}`);
  }

  private failBoot(message: string): void {
    this.notify('boot.error', message);
    this.serial('reboot: Power down');
    this.processExit();
  }

  // ------------------------------------------------------------------------------------------
  // The simulated boot (dstack-util system setup + app-compose.service)

  private async runBoot(signal: AbortSignal): Promise<void> {
    const cfg = this.host.config;
    const config: VmConfiguration = structuredClone(this.configuration);
    const image = this.host.image(config.image);
    const composeHash = sha256Hex(config.compose_file);

    this.logs.append('serial', '');
    this.serial(`Linux version 6.9.0-dstack (builder@dstack) #1 SMP PREEMPT_DYNAMIC`);
    this.serial(`Command line: console=ttyS0 init=/init panic=1 dstack.image=${config.image}`);
    this.serial('tdx: Guest detected');
    this.serial(`Memory: ${config.memory * 1024}K available`);
    this.serial(`smpboot: Allowing ${config.vcpu} CPUs, 0 hotplug CPUs`);
    this.serial('Run /init as init process');
    this.serial(`${GREEN_OK} Reached target Basic System.`);
    this.serial(`         Starting dstack-prepare.service - dstack guest preparation...`);

    const fail = (message: string): void => {
      if (!signal.aborted) this.failBoot(message);
    };

    if (!image) return fail(`failed to load image: image ${config.image} not found`);
    let compose;
    try {
      compose = parseAppCompose(config.compose_file);
    } catch (err) {
      return fail(`failed to parse app compose: ${errorMessage(err)}`);
    }
    const keyProvider = keyProviderOf(compose);
    const gateway = gatewayEnabledOf(compose);
    const hasGpus = (config.gpus?.gpus.length ?? 0) > 0;

    const steps: string[] = [];
    if (hasGpus) steps.push('attesting GPU');
    steps.push('requesting app keys', 'initializing data disk', 'mounting data disk', 'data disk ready');
    if (gateway) steps.push('setting up dstack-gateway');
    steps.push('setting up docker');
    if (compose.hasPreLaunchScript) steps.push('pre-launch');
    steps.push(compose.runner === 'bash' ? 'running main script' : 'starting containers', 'done');
    const stepMs = cfg.bootMs / (steps.length + 1);
    const step = async (name: string): Promise<void> => {
      await sleep(stepMs, signal);
      this.notify('boot.progress', name);
    };

    await sleep(stepMs, signal);
    const fault = this.host.takeFault('boot');
    if (fault !== undefined) return fail(fault);
    // a `hang` fault on `boot`: this boot stays where it is (never `done`) until the fault is cleared or the VM stops
    const hang = this.host.faults.take('hang', 'boot');
    if (hang) {
      this.host.config.log(`vm ${this.id}: boot held by fault ${hang.id}`);
      await new Promise<void>((resolve, reject) => {
        const aborted = () => reject(signal.reason);
        if (signal.aborted) return aborted();
        signal.addEventListener('abort', aborted, { once: true });
        void this.host.faults.hold(hang).then(() => {
          signal.removeEventListener('abort', aborted);
          resolve();
        });
      });
    }

    // Instance id (as dstack-util derives it): a seed generated once and reused, except with key provider `none`.
    let seed = this.instance?.instance_id_seed ?? '';
    if (!seed || keyProvider === 'none') seed = randomHex(20);
    const instanceId = compose.no_instance_id
      ? ''
      : sha256Hex(Buffer.concat([Buffer.from(seed, 'hex'), Buffer.from(this.appId, 'hex')])).slice(0, 40);
    this.notify('instance.info', JSON.stringify({ instance_id_seed: seed, instance_id: instanceId, app_id: this.appId }));

    if (hasGpus) await step('attesting GPU');
    await step('requesting app keys');

    const vmConfig = {
      spec_version: 1,
      app_id: this.appId,
      compose_hash: composeHash,
      instance_id: instanceId,
      os_image_hash: image.osImageHash,
      device_id: cfg.deviceId,
      host_vm_id: this.id,
      cpu_count: config.vcpu,
      memory_size: config.memory * 1024 * 1024,
      image: config.image,
    };
    let keys;
    let keyProviderId = '';
    if (keyProvider === 'kms') {
      const kmsUrls = config.kms_urls.length > 0 ? config.kms_urls : cfg.kmsUrls;
      try {
        const got = await requestAppKeys({ kmsUrls, kmsToken: cfg.kmsToken, vmConfig, signal });
        keys = got.keys;
        keyProviderId = keyProviderIdOf(keys.ca_cert);
        this.serial(`dstack-prepare.sh[412]: got app keys from KMS ${got.url}`);
      } catch (err) {
        if (signal.aborted) return;
        return fail(`failed to get app keys from KMS: ${errorMessage(err)}`);
      }
    } else {
      keys = localAppKeys();
      this.serial(`dstack-prepare.sh[412]: generating app keys locally (key provider: ${keyProvider})`);
    }

    let env: Record<string, string> = {};
    let dropped: string[] = [];
    if (config.encrypted_env) {
      try {
        ({ env, dropped } = decryptGuestEnv(config.encrypted_env, keys.env_crypt_key, compose.allowed_envs));
      } catch (err) {
        return fail(errorMessage(err));
      }
      for (const key of dropped) {
        this.serial(`\x1b[0;33mWARN\x1b[0m dstack-prepare.sh[412]: env ${key} is not in allowed_envs, ignored`);
      }
    }

    const events: MeasuredEvent[] = [
      { name: 'system-preparing', payload: '' },
      { name: 'app-id', payload: this.appId },
      { name: 'compose-hash', payload: composeHash },
      { name: 'instance-id', payload: instanceId },
      { name: 'boot-mr-done', payload: '' },
    ];
    if (keyProvider === 'kms') {
      events.push({ name: 'os-image-hash', payload: keys.os_image_hash || image.osImageHash });
    }
    const kpName = keyProvider === 'local' ? 'local-sgx' : keyProvider;
    events.push(
      { name: 'key-provider', payload: Buffer.from(JSON.stringify({ name: kpName, id: keyProviderId })).toString('hex') },
      { name: 'storage-fs', payload: Buffer.from(compose.storage_fs).toString('hex') },
      { name: 'system-ready', payload: '' },
    );

    const guest: GuestRuntime = {
      config,
      compose,
      composeHash,
      appId: this.appId,
      instanceId,
      osImageHash: image.osImageHash,
      keyProvider,
      keyProviderId,
      keys,
      env,
      droppedEnvKeys: dropped,
      services: [],
      containers: [],
      agentUp: false,
      events,
      bootedAt: Date.now(),
      sshAuthorizedKeys: authorizedKeysOf(config.user_config),
    };
    this.guest = guest;

    await step('initializing data disk');
    this.serial(`dstack-prepare.sh[412]: creating ${compose.storage_fs} data disk of ${config.disk_size}G`);
    await step('mounting data disk');
    await step('data disk ready');
    if (gateway) await step('setting up dstack-gateway');
    await step('setting up docker');
    this.serial(`${GREEN_OK} Started docker.service - Docker Application Container Engine.`);
    this.serial(`${GREEN_OK} Started dstack-guest-agent.service - dstack guest agent.`);
    guest.agentUp = true;
    if (compose.hasPreLaunchScript) {
      await step('pre-launch');
      this.logs.append('stdout', 'Running pre-launch script');
    }

    if (compose.runner === 'bash') {
      await step('running main script');
      this.logs.append('stdout', 'Running main script');
    } else {
      await step('starting containers');
      try {
        guest.services = composeServices(compose.docker_compose_file);
      } catch (err) {
        return fail(`failed to start containers: invalid docker compose file: ${errorMessage(err)}`);
      }
      for (const svc of guest.services) {
        const c = newContainer(this.id, svc);
        guest.containers.push(c);
        this.logs.append('stderr', ` Container app-compose-${svc.name}-1  Created`);
        this.logs.append('stderr', ` Container app-compose-${svc.name}-1  Started`);
        this.logs.append('stdout', `${svc.name}-1  | started ${svc.image}`);
        this.logs.append('stdout', `${svc.name}-1  | ready`);
      }
      this.serial(`${GREEN_OK} Started app-compose.service - App Compose Service.`);
    }
    await step('done');
  }

  private async runShutdown(signal: AbortSignal): Promise<void> {
    this.shuttingDown = true;
    const ms = this.host.config.shutdownMs;
    this.notify('shutdown.progress', 'stopping containers');
    const now = Date.now();
    for (const c of this.guest?.containers ?? []) {
      if (c.state !== 'running') continue;
      c.state = 'exited';
      c.changedAt = now;
      this.logs.append('stderr', ` Container app-compose-${c.name}-1  Stopped`);
      this.logs.append('stdout', `${c.name}-1 exited with code 0`);
    }
    await sleep(ms * 0.6, signal);
    this.notify('shutdown.progress', 'powering off');
    this.serial('reboot: Power down');
    await sleep(ms * 0.4, signal);
    this.processExit();
  }

  // ------------------------------------------------------------------------------------------
  // Views

  /** VmInfo.configuration: the stored VmConfiguration, with `stopped` and `app_id` as the VMM reports them. */
  configurationJson(): VmConfiguration {
    return { ...structuredClone(this.configuration), app_id: this.appId, stopped: !this.started };
  }

  gatewayEnabled(): boolean {
    try {
      return gatewayEnabledOf(parseAppCompose(this.configuration.compose_file));
    } catch {
      return false;
    }
  }

  appUrl(): string | null {
    const iid = this.instance?.instance_id;
    if (!iid || !this.gatewayEnabled()) return null;
    const c = this.host.config;
    return `https://${iid}-${c.gatewayAgentPort}.${c.gatewayBaseDomain}${c.gatewayPort === 443 ? '' : `:${c.gatewayPort}`}`;
  }

  toVmInfo(brief: boolean): VmInfo {
    const now = Date.now();
    const uptime =
      this.processStartedAt === undefined
        ? 'never'
        : formatDuration((this.processRunning ? now : (this.processStoppedAt ?? now)) - this.processStartedAt);
    const mac = `52:54:00:${sha256Hex(this.id).slice(0, 6).match(/../g)!.join(':')}`;
    return {
      id: this.id,
      name: this.name,
      status: this.status,
      uptime,
      app_url: this.appUrl(),
      app_id: this.appId,
      instance_id: this.instance?.instance_id ?? '',
      configuration: brief ? null : this.configurationJson(),
      exited_at: this.processStoppedAt === undefined ? 'never' : formatDuration(now - this.processStoppedAt),
      boot_progress: this.bootProgress,
      boot_error: this.bootError,
      shutdown_progress: this.shutdownProgress,
      image_version: this.host.image(this.configuration.image)?.version ?? '',
      events: this.events.map((e) => ({ ...e })),
      interfaces: [{ mode: 'user', backend: 'slirp', mac, bridge_name: null, netdev_id: 'net0' }],
    };
  }

  toView(): SimVmView {
    return {
      id: this.id,
      name: this.name,
      status: this.status,
      appId: this.appId,
      instanceId: this.instance ? this.instance.instance_id : null,
      bootProgress: this.bootProgress,
      bootError: this.bootError,
      shutdownProgress: this.shutdownProgress,
      configuration: this.configurationJson(),
      composeHash: sha256Hex(this.configuration.compose_file),
      guest: {
        env: this.guest ? { ...this.guest.env } : null,
        droppedEnvKeys: this.guest ? [...this.guest.droppedEnvKeys] : [],
        containers: (this.guest?.containers ?? []).map((c) => ({ name: c.name, image: c.image, state: c.state })),
        sshAuthorizedKeys: this.guest ? [...this.guest.sshAuthorizedKeys] : [],
      },
    };
  }

  /** The guest agent, if it can be reached (the VMM proxies `/guest/<Method>` to it). */
  agent(): { guest: GuestRuntime; ctx: GuestContext } {
    if (this.removing || !this.processRunning) throw new RpcError('vm is not running');
    const g = this.guest;
    if (!g || !g.agentUp) throw new RpcError('guest agent is not ready yet (the vm is still booting)');
    return {
      guest: g,
      ctx: {
        vmId: this.id,
        deviceId: this.host.config.deviceId,
        processStartedAt: this.processStartedAt ?? Date.now(),
        vmConfigJson: JSON.stringify({
          spec_version: 1,
          os_image_hash: g.osImageHash,
          cpu_count: g.config.vcpu,
          memory_size: g.config.memory * 1024 * 1024,
          image: g.config.image,
        }),
      },
    };
  }
}
