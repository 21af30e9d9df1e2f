/**
 * Host driver: a client for dstack-vmm's pRPC API in JSON mode (dstack-facts §0, §5). It talks to any
 * dstack-vmm (the simulated one in tests and `npm start`) and knows nothing of a host's internals.
 */

export interface VmConfiguration {
  name: string;
  image: string;
  compose_file: string;
  vcpu: number;
  memory: number;
  disk_size: number;
  ports?: { protocol: string; host_port: number; vm_port: number; host_address?: string }[];
  encrypted_env?: string;
  app_id?: string;
  user_config?: string;
  hugepages?: boolean;
  pin_numa?: boolean;
  gpus?: { gpus: { slot: string }[]; attach_mode?: string };
  kms_urls?: string[];
  gateway_urls?: string[];
  stopped?: boolean;
}

export interface VmInfo {
  id: string;
  name: string;
  status: string;
  uptime?: string;
  app_url?: string | null;
  app_id: string;
  instance_id?: string | null;
  exited_at?: string | null;
  boot_progress?: string;
  boot_error?: string;
  shutdown_progress?: string;
  image_version?: string;
}

export interface HostMeta {
  kms?: { url?: string; urls?: string[] };
  gateway?: { url?: string; base_domain?: string; port?: number; agent_port?: number };
  resources?: { max_cvm_number?: number; max_allocable_vcpu?: number; max_allocable_memory_in_mb?: number };
}

export interface HostImage {
  name: string;
  description: string;
  version: string;
  is_dev: boolean;
}

/** A host answered with a pRPC error (HTTP 400 `{"error"}`), or could not be reached. */
export class HostError extends Error {
  constructor(
    message: string,
    readonly method: string,
    readonly reachable: boolean,
  ) {
    super(message);
    this.name = 'HostError';
  }
}

export class VmmClient {
  constructor(
    readonly url: string,
    private readonly authToken?: string,
    private readonly timeoutMs = 15_000,
  ) {}

  async call<T = unknown>(method: string, body: unknown = {}, service: 'prpc' | 'guest' = 'prpc'): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.base}/${service}/${method}?json`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...this.authHeader(),
        },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (e) {
      throw new HostError(`host ${this.url} unreachable: ${(e as Error).message}`, method, false);
    }
    const text = await res.text();
    if (!res.ok) {
      let message = text;
      try {
        message = (JSON.parse(text) as { error?: string }).error ?? text;
      } catch {
        /* plain-text error */
      }
      throw new HostError(`${method}: ${message || `HTTP ${res.status}`}`, method, true);
    }
    return (text ? JSON.parse(text) : {}) as T;
  }

  private get base() {
    return this.url.replace(/\/$/, '');
  }

  private authHeader(): Record<string, string> {
    return this.authToken ? { authorization: `Bearer ${this.authToken}` } : {};
  }

  /** The guest agent's API as the host proxies it: `POST /guest/<Method>` `{"id"}` (dstack-facts §5.1, §6.1). */
  guest<T = unknown>(method: 'Info' | 'SysInfo' | 'NetworkInfo' | 'ListContainers', id: string): Promise<T> {
    return this.call<T>(method, { id }, 'guest');
  }

  /**
   * A VM's log channel as the host streams it: `GET /logs?id&ch&lines&follow&ansi` (plain text, dstack-facts
   * §5.1). Answers the open response (the caller reads and closes its body); 404 if the host has no such VM.
   */
  async logs(id: string, opts: { ch: 'serial' | 'stdout' | 'stderr'; lines?: number; follow?: boolean; ansi?: boolean }, signal?: AbortSignal): Promise<Response> {
    const q = new URLSearchParams({ id, ch: opts.ch, follow: String(!!opts.follow), ansi: String(!!opts.ansi) });
    if (opts.lines !== undefined) q.set('lines', String(opts.lines));
    try {
      return await fetch(`${this.base}/logs?${q}`, { headers: this.authHeader(), signal });
    } catch (e) {
      throw new HostError(`host ${this.url} unreachable: ${(e as Error).message}`, 'logs', false);
    }
  }

  createVm(config: VmConfiguration) {
    return this.call<{ id: string }>('CreateVm', config);
  }
  startVm(id: string) {
    return this.call('StartVm', { id });
  }
  stopVm(id: string) {
    return this.call('StopVm', { id });
  }
  shutdownVm(id: string) {
    return this.call('ShutdownVm', { id });
  }
  /** UpdateVmRequest (dstack-facts §5.2): only the fields given change; resources need a stopped VM. */
  updateVm(id: string, update: Record<string, unknown>) {
    return this.call<{ id: string }>('UpdateVm', { id, ...update });
  }
  removeVm(id: string) {
    return this.call('RemoveVm', { id });
  }
  async getInfo(id: string): Promise<VmInfo | null> {
    const r = await this.call<{ found: boolean; info?: VmInfo }>('GetInfo', { id });
    return r.found && r.info ? r.info : null;
  }
  async status(opts: { ids?: string[]; keyword?: string; brief?: boolean } = {}): Promise<VmInfo[]> {
    const r = await this.call<{ vms?: VmInfo[] }>('Status', { brief: true, ...opts });
    return r.vms ?? [];
  }
  getMeta() {
    return this.call<HostMeta>('GetMeta');
  }
  async listImages(): Promise<HostImage[]> {
    return (await this.call<{ images?: HostImage[] }>('ListImages')).images ?? [];
  }
  version() {
    return this.call<{ version: string; rev?: string }>('Version');
  }
}
