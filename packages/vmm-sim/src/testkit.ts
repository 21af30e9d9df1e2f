/**
 * Test helpers for the vmm-sim tests (not a test file itself): a tiny fake KMS on 127.0.0.1, a pRPC
 * client, polling, and app-compose builders.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateX25519KeyPair, toHex } from '@opencvm/core';
import { startVmmSim } from './index.ts';
import type { SimVmView, VmmSim, VmmSimOptions } from './types.ts';

export interface FakeKms {
  url: string;
  token: string;
  envSecret: Uint8Array;
  envPublicKeyHex: string;
  /** Parsed `vm_config` of every authorised GetAppKey call. */
  keyRequests: Record<string, unknown>[];
  /** Authorization headers seen on GetAppKey (authorised or not). */
  authHeaders: (string | undefined)[];
  /** When set, GetAppKey answers 400 {"error": refuse}. */
  refuse: string | null;
  close(): Promise<void>;
}

async function readJson(req: IncomingMessage): Promise<any> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : {};
}

/** A fake KMS: answers GetAppKey (checking the bearer token) and GetAppEnvEncryptPubKey. */
export async function startFakeKms(token = 'kms-secret-token'): Promise<FakeKms> {
  const { secret, publicKey } = generateX25519KeyPair();
  const kms: FakeKms = {
    url: '',
    token,
    envSecret: secret,
    envPublicKeyHex: toHex(publicKey),
    keyRequests: [],
    authHeaders: [],
    refuse: null,
    close: async () => {},
  };
  const server: Server = createServer(async (req, res) => {
    const send = (status: number, body: unknown): void => {
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const url = new URL(req.url ?? '/', 'http://kms');
    try {
      const body = await readJson(req);
      if (url.pathname === '/prpc/GetAppKey') {
        kms.authHeaders.push(req.headers.authorization);
        if (req.headers.authorization !== `Bearer ${kms.token}`) return send(400, { error: 'attestation required' });
        if (kms.refuse !== null) return send(400, { error: kms.refuse });
        if (body.api_version !== 1 || typeof body.vm_config !== 'string') {
          return send(400, { error: 'bad GetAppKey request' });
        }
        kms.keyRequests.push(JSON.parse(body.vm_config));
        return send(200, {
          ca_cert: '',
          disk_crypt_key: '11'.repeat(32),
          env_crypt_key: toHex(kms.envSecret),
          k256_key: '22'.repeat(32),
          k256_signature: '33'.repeat(65),
          tproxy_app_id: '',
          gateway_app_id: 'any',
          os_image_hash: '44'.repeat(32),
        });
      }
      if (url.pathname === '/prpc/GetAppEnvEncryptPubKey') {
        return send(200, { public_key: kms.envPublicKeyHex, signature: '', timestamp: 1, signature_v1: '', app_id: body.app_id });
      }
      send(400, { error: `Method not found: ${url.pathname}` });
    } catch (err) {
      send(400, { error: String(err) });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  kms.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  kms.close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return kms;
}

export interface RpcResult {
  status: number;
  body: any;
  headers: Headers;
}

/** POST `<sim>/prpc/<method>?json` with a JSON body. */
export async function rpc(
  baseUrl: string,
  method: string,
  body: unknown = {},
  opts: { headers?: Record<string, string>; prefix?: string } = {},
): Promise<RpcResult> {
  const res = await fetch(`${baseUrl}/${opts.prefix ?? 'prpc'}/${method}?json`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...opts.headers },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: any = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* plain text */
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

/** Like rpc() but asserts HTTP 200 and returns the body. */
export async function call(baseUrl: string, method: string, body: unknown = {}, prefix = 'prpc'): Promise<any> {
  const r = await rpc(baseUrl, method, body, { prefix });
  if (r.status !== 200) throw new Error(`${prefix}/${method} -> ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** Polls `fn` every 20 ms until it returns a truthy value; throws after `timeoutMs`. */
export async function waitFor<T>(fn: () => T | Promise<T>, what: string, timeoutMs = 5000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await fn();
    if (last) return last as NonNullable<T>;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(last)})`);
}

export function waitVm(sim: VmmSim, id: string, pred: (vm: SimVmView) => boolean, what: string, timeoutMs = 5000) {
  return waitFor(() => {
    const vm = sim.getVm(id);
    return vm && pred(vm) ? vm : undefined;
  }, `${what} (vm ${id})`, timeoutMs);
}

export const booted = (vm: SimVmView): boolean => vm.status === 'running' && vm.bootProgress === 'done';

/** A compact app compose string. */
export function appCompose(extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    manifest_version: 2,
    name: 'hello',
    runner: 'docker-compose',
    docker_compose_file: 'services:\n  web:\n    image: nginx:latest\n  worker:\n    image: busybox:1.36\n    command: ["sleep", "infinity"]\n',
    kms_enabled: true,
    gateway_enabled: true,
    public_logs: true,
    public_sysinfo: true,
    allowed_envs: ['FOO', 'BAR'],
    ...extra,
  });
}

export function vmConfig(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'app-1',
    image: 'dstack-0.5.8',
    compose_file: appCompose(),
    vcpu: 2,
    memory: 2048,
    disk_size: 20,
    ...extra,
  };
}

/** A simulator wired to `kms`, with fast timings. */
export function startTestSim(kms: FakeKms | null, opts: VmmSimOptions = {}): Promise<VmmSim> {
  return startVmmSim({
    bootMs: 300,
    shutdownMs: 150,
    kmsUrls: kms ? [kms.url] : [],
    kmsToken: kms?.token,
    ...opts,
  });
}
