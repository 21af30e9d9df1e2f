/**
 * Several servers on one database, as an operator runs them (README "Running several replicas"): a
 * simulated host in a process of its own, and replicas started in this process with `startServer`, each
 * with its own data dir and port, the same seal key and `OPENCVM_HOSTS` naming that one host.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, type RunningServer } from '../app.ts';
import { loadConfig, type Config } from '../config.ts';
import { checkAnswers, type Violation } from './response-check.ts';

const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));

export interface SimProcess {
  url: string;
  kmsToken: string;
  /** the `OPENCVM_HOSTS` entry of this host */
  hostsEntry: string;
  child: ChildProcess;
  close(): Promise<void>;
}

/** `npm run sim`'s program (`packages/vmm-sim/src/main.ts`) on a free port, in a process of its own. */
export async function startSimProcess(
  opts: { name?: string; bootMs?: number; shutdownMs?: number; region?: string; vcpu?: number; memoryMb?: number; env?: Record<string, string> } = {},
): Promise<SimProcess> {
  const name = opts.name ?? 'sim-1';
  const kmsToken = randomBytes(24).toString('base64url');
  const child = spawn(process.execPath, ['--import', 'tsx', 'packages/vmm-sim/src/main.ts'], {
    cwd: repoRoot,
    env: {
      ...process.env,
      NODE_TEST_CONTEXT: '',
      VMM_SIM_PORT: '0',
      VMM_SIM_HOST: '127.0.0.1',
      VMM_SIM_NAME: name,
      VMM_SIM_KMS_TOKEN: kmsToken,
      VMM_SIM_BOOT_MS: String(opts.bootMs ?? 300),
      VMM_SIM_SHUTDOWN_MS: String(opts.shutdownMs ?? 100),
      ...(opts.region ? { VMM_SIM_REGION: opts.region } : {}),
      ...(opts.vcpu ? { VMM_SIM_VCPU: String(opts.vcpu) } : {}),
      ...(opts.memoryMb ? { VMM_SIM_MEMORY: String(opts.memoryMb) } : {}),
      // more of the program's settings (`opencvm-vmm-sim --help`: size, region, GPUs, KMS URL)
      ...opts.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const line = out.split('\n').find((l) => /^http:\/\//.test(l.trim()));
      if (line) resolve(line.trim());
    });
    child.once('exit', (code) => reject(new Error(`the simulated host exited (${code}) before it listened: ${stderr}`)));
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    url,
    kmsToken,
    hostsEntry: `${name}=${url}##${kmsToken}`,
    child,
    async close() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/**
 * What a load balancer in front of the replicas does for the guests' KMS requests: each request goes to
 * the next replica, and to the one after it if that one is down (a replica restarting).
 */
export async function startFailoverProxy(): Promise<{ url: string; backends: string[]; close(): Promise<void> }> {
  const backends: string[] = [];
  let next = 0;
  const forward = (target: string, method: string, path: string, headers: Record<string, any>, body: Buffer) =>
    new Promise<{ status: number; headers: Record<string, any>; body: Buffer }>((resolve, reject) => {
      const u = new URL(target);
      const req = request({ host: u.hostname, port: u.port, method, path, headers: { ...headers, host: u.host } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks);
      for (let tries = 0; tries < backends.length * 2; tries++) {
        const target = backends[next++ % backends.length];
        try {
          const r = await forward(target, req.method ?? 'GET', req.url ?? '/', req.headers, body);
          const { connection: _c, 'transfer-encoding': _t, ...headers } = r.headers;
          res.writeHead(r.status, headers).end(r.body);
          return;
        } catch {
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      res.writeHead(502).end('no replica answered');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    backends,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export interface Replica {
  readonly server: RunningServer;
  readonly apiUrl: string;
  dataDir: string;
  config: Config;
  /** 5xx answers this replica gave, every start */
  serverErrors: string[];
  /** answers that did not match the contract */
  violations: Violation[];
  /** stop it, then start it again on the same port and data dir */
  restart(): Promise<void>;
  close(): Promise<void>;
}

export interface ReplicaOptions {
  databaseUrl: string;
  sealKey?: Buffer;
  apiKey?: string;
  /** `OPENCVM_HOSTS` (none: no host) */
  hosts?: string;
  simulatedHost?: boolean;
  publicUrl?: string;
  dataDir?: string;
}

/** One server of a replica set: its own data dir and port, the configuration read as `main.ts` reads it. */
export async function startReplica(opts: ReplicaOptions): Promise<Replica> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'opencvm-replica-'));
  const config: Config = {
    ...loadConfig({
      DATABASE_URL: opts.databaseUrl,
      OPENCVM_API_KEY: opts.apiKey,
      OPENCVM_HOSTS: opts.hosts,
      OPENCVM_SIMULATED_HOST: opts.simulatedHost === undefined ? undefined : opts.simulatedHost ? '1' : '0',
      OPENCVM_SIM_BOOT_MS: '300',
      OPENCVM_RECONCILE_MS: '500',
      OPENCVM_DB_POOL: '4',
      OPENCVM_PUBLIC_URL: opts.publicUrl,
    }),
    port: 0,
    dataDir,
    sealKey: opts.sealKey,
  };
  const serverErrors: string[] = [];
  const violations: Violation[] = [];
  const start = () =>
    startServer({
      config,
      worker: { bootPollMs: 50, pollMs: 200 },
      instrument: (app) => {
        checkAnswers(app, (v) => violations.push(v));
        app.addHook('onResponse', async (req, reply) => {
          if (reply.statusCode >= 500) serverErrors.push(`${req.method} ${req.url} → ${reply.statusCode}`);
        });
      },
    });
  let server = await start();
  config.port = Number(new URL(server.url).port);
  return {
    get server() {
      return server;
    },
    get apiUrl() {
      return server.apiUrl;
    },
    dataDir,
    config,
    serverErrors,
    violations,
    async restart() {
      await server.close();
      server = await start();
    },
    async close() {
      await server.close();
      if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

