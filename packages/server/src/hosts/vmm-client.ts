/**
 * Host driver: a client for dstack-vmm's pRPC API in JSON mode (`POST /prpc/<Method>?json`, dstack's
 * `vmm/rpc/proto/vmm_rpc.proto`). It talks to any dstack-vmm (the simulated one in tests and `npm start`) and
 * knows nothing of a host's internals. Every answer is parsed with the contract's pRPC schemas: a host that
 * answers something else is an error, never a cast.
 */
import { Agent as HttpAgent, request as httpRequest, type ClientRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { prpc, type z } from '@opencvm/contract';

export type VmConfiguration = prpc.VmConfigurationInput;
export type VmInfo = prpc.VmInfo;
export type HostMeta = prpc.HostMeta;
export type HostImage = prpc.HostImage;

/** Told of every call (`call`) a client makes: its method, how long it took, and the error if it failed. */
export type HostCallObserver = (method: string, seconds: number, error?: HostError) => void;

/** A host answered with a pRPC error (HTTP 400 `{"error"}`), or could not be reached. */
export class HostError extends Error {
  constructor(
    message: string,
    readonly method: string,
    readonly reachable: boolean,
    /** the HTTP status of an answer that was an error (a 5xx is the host's infrastructure failing, not a refusal) */
    readonly status?: number,
  ) {
    super(message);
    this.name = 'HostError';
  }
}

/** An answer as it came: the status and the body's text. */
interface RawAnswer {
  status: number;
  text: string;
}

export class VmmClient {
  /**
   * One keep-alive agent per host: node:http rather than fetch for the pRPC calls, which a deploy makes
   * several of (CreateVm, StartVm, GetInfo while it boots, the guest's runtime); fetch costs some three
   * times the CPU of node:http per call. An idle connection is closed before the host's announced
   * keep-alive timeout (node reads its `Keep-Alive: timeout=` hint), at the latest after 4 s.
   */
  private readonly agent: HttpAgent | HttpsAgent;

  constructor(
    readonly url: string,
    private readonly authToken?: string,
    private readonly timeoutMs = 15_000,
    /** told of each call (the server's metrics: latency and errors by node and method) */
    private readonly observe?: HostCallObserver,
  ) {
    const options = { keepAlive: true, timeout: 4000 };
    this.agent = url.startsWith('https:') ? new HttpsAgent(options) : new HttpAgent(options);
  }

  /** One call; the answer is parsed with `schema` (a host answering another shape is a HostError). */
  async call<S extends z.ZodType>(method: string, body: unknown, schema: S, service: 'prpc' | 'guest' = 'prpc'): Promise<z.output<S>> {
    if (!this.observe) return this.request(method, body, schema, service);
    const started = performance.now();
    try {
      const answer = await this.request(method, body, schema, service);
      this.observe(method, (performance.now() - started) / 1000);
      return answer;
    } catch (e) {
      this.observe(method, (performance.now() - started) / 1000, e as HostError);
      throw e;
    }
  }

  private async request<S extends z.ZodType>(method: string, body: unknown, schema: S, service: 'prpc' | 'guest'): Promise<z.output<S>> {
    const res = await this.post(`${this.base}/${service}/${method}?json`, JSON.stringify(body), method);
    const text = res.text;
    if (res.status < 200 || res.status > 299) {
      let message = text;
      try {
        message = (JSON.parse(text) as { error?: string }).error ?? text;
      } catch {
        /* plain-text error */
      }
      throw new HostError(`${method}: ${message || `HTTP ${res.status}`}`, method, true, res.status);
    }
    let data: unknown;
    try {
      data = text ? JSON.parse(text) : {};
    } catch {
      throw new HostError(`${method}: the host answered something that is not JSON (HTTP ${res.status})`, method, true);
    }
    const parsed = schema.safeParse(data);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new HostError(`${method}: the host's answer is not what dstack-vmm answers (${issue.path.join('.') || 'answer'}: ${issue.message})`, method, true);
    }
    return parsed.data;
  }

  /**
   * POST `body` and read the whole answer within `timeoutMs`. No answer (refused, reset, timed out before
   * the status line) is a HostError the host could not be reached; an answer cut off after its status line
   * is a plain error, as it was with fetch.
   */
  private post(url: string, body: string, method: string): Promise<RawAnswer> {
    return new Promise((resolve, reject) => {
      let answered = false;
      const fail = (e: Error) =>
        reject(answered ? e : new HostError(`host ${this.url} unreachable: ${e.message}`, method, false));
      const send = url.startsWith('https:') ? httpsRequest : httpRequest;
      let req: ClientRequest;
      try {
        req = send(url, {
          method: 'POST',
          agent: this.agent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...this.authHeader() },
        });
      } catch (e) {
        return fail(e as Error);
      }
      const timer = setTimeout(() => req.destroy(new Error(`no answer within ${this.timeoutMs / 1000} s`)), this.timeoutMs);
      req.once('error', (e) => {
        clearTimeout(timer);
        fail(e);
      });
      req.once('response', (res) => {
        answered = true;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.once('error', (e) => {
          clearTimeout(timer);
          reject(e);
        });
        res.once('end', () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') });
        });
      });
      req.end(body);
    });
  }

  private get base() {
    return this.url.replace(/\/$/, '');
  }

  private authHeader(): Record<string, string> {
    return this.authToken ? { authorization: `Bearer ${this.authToken}` } : {};
  }

  /** The guest agent's API as dstack-vmm proxies it: `POST /guest/<Method>` `{"id"}` (dstack's `guest-api/proto/guest_api.proto`). */
  listContainers(id: string) {
    return this.call('ListContainers', { id }, prpc.listContainersResultSchema, 'guest');
  }
  sysInfo(id: string) {
    return this.call('SysInfo', { id }, prpc.guestSysInfoSchema, 'guest');
  }
  networkInfo(id: string) {
    return this.call('NetworkInfo', { id }, prpc.guestNetworkSchema, 'guest');
  }
  /** The guest agent's AppInfo: ids, measurements, the RA-TLS app certificate chain, `tcb_info` (JSON text). */
  guestInfo(id: string) {
    return this.call('Info', { id }, prpc.guestAppInfoSchema, 'guest');
  }

  /**
   * A VM's log channel as dstack-vmm streams it: `GET /logs?id&ch&lines&follow&ansi` (plain text). Answers the
   * open response (the caller reads and closes its body); 404 if the host has no such VM.
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
    return this.call('CreateVm', config, prpc.idResultSchema);
  }
  startVm(id: string) {
    return this.call('StartVm', { id }, prpc.emptyResultSchema);
  }
  stopVm(id: string) {
    return this.call('StopVm', { id }, prpc.emptyResultSchema);
  }
  shutdownVm(id: string) {
    return this.call('ShutdownVm', { id }, prpc.emptyResultSchema);
  }
  /** `UpdateVmRequest`: only the fields given change; resources need a stopped VM. */
  updateVm(id: string, update: Omit<prpc.UpdateVmRequest, 'id'>) {
    return this.call('UpdateVm', { id, ...update }, prpc.idResultSchema);
  }
  removeVm(id: string) {
    return this.call('RemoveVm', { id }, prpc.emptyResultSchema);
  }
  async getInfo(id: string): Promise<VmInfo | null> {
    const r = await this.call('GetInfo', { id }, prpc.getInfoResultSchema);
    return r.found && r.info ? r.info : null;
  }
  async status(opts: { ids?: string[]; keyword?: string; brief?: boolean } = {}): Promise<VmInfo[]> {
    return (await this.call('Status', { brief: true, ...opts }, prpc.statusResultSchema)).vms;
  }
  getMeta() {
    return this.call('GetMeta', {}, prpc.hostMetaSchema);
  }
  async listImages(): Promise<HostImage[]> {
    return (await this.call('ListImages', {}, prpc.listImagesResultSchema)).images;
  }
  /** `ListGpus`: the host's GPUs with their product ids. */
  async listGpus(): Promise<prpc.HostGpu[]> {
    return (await this.call('ListGpus', {}, prpc.listGpusResultSchema)).gpus;
  }
  version() {
    return this.call('Version', {}, prpc.versionResultSchema);
  }
}
