/**
 * The guest side of a simulated CVM: what dstack-util / the guest agent do inside the VM.
 * - the KMS key request (`GetAppKey` of dstack's `kms/rpc/proto/kms_rpc.proto`, a bearer token standing in for RA-TLS),
 * - env decryption and `allowed_envs` filtering (as dstack-util's `dh_decrypt` and `parse_env` do them),
 * - RTMR3 runtime events, the instance id, and the AppInfo the guest agent reports (its `Info` method),
 * - the guest API answers the VMM proxies at `/guest/<Method>` (SysInfo, NetworkInfo, ListContainers).
 */
import { X509Certificate } from 'node:crypto';
import { RUNTIME_EVENT_TYPE, decryptEnv, eventDigestV1, filterAllowedEnvs, validateEnvVars } from '@opencvm/core';
import { makeEvidence, type Evidence } from './evidence.ts';
import type { AppCompose, ComposeService, KeyProvider } from './compose.ts';
import type { AppKeys, VmConfiguration } from './types.ts';
import { errorMessage, formatDuration, postText, randomHex, sha256Hex, sha384 } from './util.ts';

export interface GuestContainer {
  id: string;
  name: string;
  image: string;
  imageId: string;
  command: string;
  createdAt: number;
  state: 'running' | 'exited';
  changedAt: number;
}

export interface MeasuredEvent {
  name: string;
  payload: string; // hex
}

/** Guest RAM state of one boot; discarded when the VM process stops. */
export interface GuestRuntime {
  /** The configuration this boot started with (updates apply on the next boot). */
  config: VmConfiguration;
  compose: AppCompose;
  composeHash: string;
  appId: string;
  instanceId: string;
  osImageHash: string;
  keyProvider: KeyProvider;
  keyProviderId: string;
  keys: AppKeys | null;
  env: Record<string, string> | null;
  droppedEnvKeys: string[];
  services: ComposeService[];
  containers: GuestContainer[];
  /** The guest agent answers once the system setup is through. */
  agentUp: boolean;
  events: MeasuredEvent[];
  bootedAt: number;
  /** the SSH keys the user_config of this boot authorizes (what a dstack guest installs for root) */
  sshAuthorizedKeys: string[];
  /** the app certificate chain and quote of this boot (made when first asked for; `evidence.ts`) */
  evidence?: Evidence;
}

/**
 * The SSH keys a user_config authorizes: its `ssh_authorized_keys` when it is a JSON object (Phala's user config,
 * `/dstack/user_config` in the guest); none for any other user_config.
 */
export function authorizedKeysOf(userConfig: string): string[] {
  try {
    const v = JSON.parse(userConfig) as { ssh_authorized_keys?: unknown };
    if (!v || typeof v !== 'object' || !Array.isArray(v.ssh_authorized_keys)) return [];
    return v.ssh_authorized_keys.filter((k): k is string => typeof k === 'string');
  } catch {
    return [];
  }
}

// ---------------------------------------------------------------------------------------------
// KMS

export interface KeyRequest {
  kmsUrls: string[];
  kmsToken: string | undefined;
  vmConfig: Record<string, unknown>;
  signal: AbortSignal;
}

const KMS_TIMEOUT_MS = 15_000;

/** POSTs `GetAppKey` to each KMS url in order until one answers; throws with the reason(s). */
export async function requestAppKeys(r: KeyRequest): Promise<{ keys: AppKeys; url: string }> {
  if (r.kmsUrls.length === 0) throw new Error('no KMS url is configured');
  const reasons: string[] = [];
  for (const base of r.kmsUrls) {
    try {
      return { keys: await getAppKeyFrom(base, r), url: base };
    } catch (err) {
      if (r.signal.aborted) throw err;
      reasons.push(r.kmsUrls.length > 1 ? `${base}: ${errorMessage(err)}` : errorMessage(err));
    }
  }
  throw new Error(reasons.join('; '));
}

async function getAppKeyFrom(base: string, r: KeyRequest): Promise<AppKeys> {
  const url = `${base.replace(/\/+$/, '')}/prpc/GetAppKey?json`;
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  if (r.kmsToken) headers.Authorization = `Bearer ${r.kmsToken}`;
  let res: { status: number; text: string };
  try {
    res = await postText(url, headers, JSON.stringify({ api_version: 1, vm_config: JSON.stringify(r.vmConfig) }), r.signal, KMS_TIMEOUT_MS);
  } catch (err) {
    if (r.signal.aborted) throw err;
    throw new Error(`error sending request to ${url}: ${errorMessage(err)}`);
  }
  const { text } = res;
  if (res.status < 200 || res.status > 299) {
    let reason = text.trim() || `HTTP ${res.status}`;
    try {
      const body = JSON.parse(text) as { error?: unknown };
      if (typeof body.error === 'string') reason = body.error;
    } catch {
      /* not JSON: keep the text */
    }
    throw new Error(reason);
  }
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new Error('the KMS answered with invalid JSON');
  }
  const hex = (k: string): string => {
    const v = body[k];
    return typeof v === 'string' ? v.replace(/^0x/i, '').toLowerCase() : '';
  };
  const keys: AppKeys = {
    ca_cert: typeof body.ca_cert === 'string' ? body.ca_cert : '',
    disk_crypt_key: hex('disk_crypt_key'),
    env_crypt_key: hex('env_crypt_key'),
    k256_key: hex('k256_key'),
    k256_signature: hex('k256_signature'),
    gateway_app_id: typeof body.gateway_app_id === 'string' ? body.gateway_app_id : '',
    os_image_hash: hex('os_image_hash'),
  };
  if (keys.env_crypt_key && !/^[0-9a-f]{64}$/.test(keys.env_crypt_key)) {
    throw new Error('the KMS returned an invalid env_crypt_key (expected 32 bytes of hex)');
  }
  return keys;
}

/** Key providers other than KMS generate keys inside the VM: nobody outside can encrypt to them. */
export function localAppKeys(): AppKeys {
  return {
    ca_cert: '',
    disk_crypt_key: randomHex(32),
    env_crypt_key: randomHex(32),
    k256_key: randomHex(32),
    k256_signature: '',
    gateway_app_id: '',
    os_image_hash: '',
  };
}

/** KMS key provider id = the root CA's SubjectPublicKeyInfo DER (hex), when the CA cert parses. */
export function keyProviderIdOf(caCertPem: string): string {
  if (!caCertPem) return '';
  try {
    return toHexBuf(new X509Certificate(caCertPem).publicKey.export({ type: 'spki', format: 'der' }));
  } catch {
    return '';
  }
}

const toHexBuf = (b: Buffer): string => b.toString('hex');

// ---------------------------------------------------------------------------------------------
// Env

export interface GuestEnv {
  env: Record<string, string>;
  dropped: string[];
}

/**
 * dh_decrypt + parse_env: decrypts, keeps only `allowed_envs` keys, applies the guest's limits.
 * Throws an Error whose message is the boot error.
 */
export function decryptGuestEnv(encryptedEnvHex: string, envCryptKeyHex: string, allowed: string[]): GuestEnv {
  let envs;
  try {
    envs = decryptEnv(encryptedEnvHex, Buffer.from(envCryptKeyHex, 'hex'));
  } catch (err) {
    throw new Error(`failed to decrypt env: ${errorMessage(err)}`);
  }
  const { kept, dropped } = filterAllowedEnvs(envs, allowed);
  // The item-count limit applies to the whole payload, the per-key rules to the kept keys only.
  const invalid = validateEnvVars(envs.length > 1024 ? envs : kept);
  if (invalid) throw new Error(`failed to parse env: ${invalid}`);
  const env: Record<string, string> = {};
  for (const { key, value } of kept) env[key] = value;
  return { env, dropped };
}

// ---------------------------------------------------------------------------------------------
// Measurements: RTMR3 is the replay of dstack's runtime events (core's event log version 1 digests); MRTD/RTMR0-2 are stand-ins derived from the image.

const EVENT_TYPE = RUNTIME_EVENT_TYPE;

function staticMeasurements(osImageHash: string): { mrtd: string; rtmr0: string; rtmr1: string; rtmr2: string } {
  const m = (label: string): string => sha384(Buffer.from(`vmm-sim:${label}:${osImageHash}`)).toString('hex');
  return { mrtd: m('mrtd'), rtmr0: m('rtmr0'), rtmr1: m('rtmr1'), rtmr2: m('rtmr2') };
}

// ---------------------------------------------------------------------------------------------
// Guest API answers

export interface GuestContext {
  vmId: string;
  deviceId: string;
  processStartedAt: number;
  vmConfigJson: string;
}

function keyProviderInfo(g: GuestRuntime): string {
  const name = g.keyProvider === 'local' ? 'local-sgx' : g.keyProvider;
  return JSON.stringify({ name, id: g.keyProviderId });
}

/** `Info`: the guest's AppInfo (plus GuestInfo's `version`); tcb_info/vm_config honour `public_tcbinfo`. */
export function guestInfo(g: GuestRuntime, ctx: GuestContext): Record<string, unknown> {
  const s = staticMeasurements(g.osImageHash);
  g.evidence ??= makeEvidence({ appId: g.appId, appName: g.compose.name, events: g.events, measurements: s });
  const rtmr3 = g.evidence.rtmr3;
  const mrAggregated = sha256Hex(Buffer.from(s.mrtd + s.rtmr0 + s.rtmr1 + s.rtmr2 + rtmr3, 'hex'));
  const tcbInfo = g.compose.public_tcbinfo
    ? JSON.stringify({
        mrtd: s.mrtd,
        rtmr0: s.rtmr0,
        rtmr1: s.rtmr1,
        rtmr2: s.rtmr2,
        rtmr3,
        mr_aggregated: mrAggregated,
        os_image_hash: g.osImageHash,
        compose_hash: g.composeHash,
        device_id: ctx.deviceId,
        event_log: g.events.map((e) => ({
          imr: 3,
          event_type: EVENT_TYPE,
          digest: eventDigestV1(e.name, e.payload),
          event: e.name,
          event_payload: e.payload,
        })),
        app_compose: g.config.compose_file,
      })
    : '';
  return {
    version: '0.5.8',
    app_id: g.appId,
    instance_id: g.instanceId,
    app_cert: g.evidence.appCert,
    tcb_info: tcbInfo,
    app_name: g.compose.name,
    device_id: ctx.deviceId,
    mr_aggregated: mrAggregated,
    os_image_hash: g.osImageHash,
    key_provider_info: keyProviderInfo(g),
    compose_hash: g.composeHash,
    vm_config: g.compose.public_tcbinfo ? ctx.vmConfigJson : '',
    cloud_vendor: '',
    cloud_product: '',
  };
}

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** `SysInfo`: plausible numbers from the VM's vCPU / memory / disk. */
export function guestSysInfo(g: GuestRuntime, ctx: GuestContext): Record<string, unknown> {
  const total = Math.floor(g.config.memory * MiB * 0.97);
  const running = g.containers.filter((c) => c.state === 'running').length;
  const used = Math.min(total, 180 * MiB + running * 48 * MiB);
  const available = total - used;
  const free = Math.floor(available * 0.85);
  const dataTotal = g.config.disk_size * GiB;
  const load = Math.min(100 * g.config.vcpu, 5 + running * 7);
  return {
    os_name: 'DStack',
    os_version: '0.5.8',
    kernel_version: '6.9.0-dstack',
    cpu_model: 'INTEL(R) XEON(R) PLATINUM 8570 (simulated)',
    num_cpus: g.config.vcpu,
    total_memory: total,
    available_memory: available,
    used_memory: used,
    free_memory: free,
    total_swap: 0,
    used_swap: 0,
    free_swap: 0,
    uptime: Math.floor((Date.now() - ctx.processStartedAt) / 1000),
    loadavg_one: load,
    loadavg_five: Math.floor(load * 0.8),
    loadavg_fifteen: Math.floor(load * 0.6),
    disks: [
      { name: 'rootfs', mount_point: '/', total_size: 512 * MiB, free_size: 12 * MiB },
      {
        name: 'dstack_data_disk',
        mount_point: '/dstack/persistent',
        total_size: dataTotal,
        free_size: Math.max(0, dataTotal - (256 * MiB + running * 200 * MiB)),
      },
    ],
  };
}

/** `NetworkInfo` (guest_api.proto NetworkInformation). */
export function guestNetworkInfo(g: GuestRuntime, ctx: GuestContext): Record<string, unknown> {
  const secs = Math.max(1, Math.floor((Date.now() - ctx.processStartedAt) / 1000));
  const octet = (parseInt(sha256Hex(ctx.vmId).slice(0, 2), 16) % 200) + 20;
  const gw = g.compose.gateway_enabled || g.compose.tproxy_enabled || g.compose.features.includes('tproxy-net');
  const iface = (name: string, address: string, prefix: number, scale: number): Record<string, unknown> => ({
    name,
    addresses: [{ address, prefix }],
    rx_bytes: secs * 2048 * scale,
    tx_bytes: secs * 1024 * scale,
    rx_errors: 0,
    tx_errors: 0,
  });
  const interfaces = [iface('lo', '127.0.0.1', 8, 1), iface('eth0', `10.0.2.${octet}`, 24, 4)];
  if (gw) interfaces.push(iface('wg0', `10.4.0.${octet}`, 32, 2));
  return {
    dns_servers: ['10.0.2.3'],
    gateways: [{ address: '10.0.2.2' }],
    interfaces,
    wg_info: gw
      ? `interface: wg0\n  public key: ${Buffer.from(sha256Hex(`wg:${ctx.vmId}`), 'hex').toString('base64')}\n  listening port: 51820\n`
      : '',
  };
}

/** `ListContainers` (guest_api.proto ListContainersResponse; `command` added as docker reports it). */
export function guestContainers(g: GuestRuntime): Record<string, unknown> {
  return {
    containers: g.containers.map((c) => ({
      id: c.id,
      names: [`/${c.name}`],
      image: c.image,
      image_id: c.imageId,
      command: c.command,
      created: Math.floor(c.createdAt / 1000),
      state: c.state,
      status:
        c.state === 'running'
          ? `Up ${formatDuration(Date.now() - c.changedAt) || 'Less than a second'}`
          : `Exited (0) ${formatDuration(Date.now() - c.changedAt)} ago`,
    })),
  };
}

export function newContainer(vmId: string, svc: ComposeService): GuestContainer {
  const now = Date.now();
  return {
    id: sha256Hex(`container:${vmId}:${svc.name}:${now}:${randomHex(8)}`),
    name: svc.name,
    image: svc.image,
    imageId: `sha256:${sha256Hex(`image:${svc.image}`)}`,
    command: svc.command,
    createdAt: now,
    state: 'running',
    changedAt: now,
  };
}
