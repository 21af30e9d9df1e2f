/**
 * Starting the bench's simulated dstack host: its own process (bench/sim-process.ts) by default, as a host is
 * another machine in production, so that its work (booting the simulated guests, their calls to the KMS) is
 * not counted as the control plane's on the server's event loop; or in the bench's process (`inProcess`,
 * BENCH_SIM=inprocess), on the server's event loop. Also the bench servers' configuration.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startVmmSim, type VmmSimOptions } from '@opencvm/vmm-sim';
import { loadConfig, type Config } from '../packages/server/src/config.ts';

export interface LaunchedSim {
  url: string;
  /** the process id when it runs in its own process */
  pid?: number;
  close(): Promise<void>;
}

export async function launchSim(opts: VmmSimOptions, inProcess = false): Promise<LaunchedSim> {
  if (inProcess) return startVmmSim(opts);
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./sim-process.ts', import.meta.url))], {
    env: { ...process.env, BENCH_SIM_OPTIONS: JSON.stringify(opts) },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString('utf8');
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve(out.slice(0, nl).trim());
    });
    child.once('exit', (code, signal) => reject(new Error(`the simulated host exited (${code ?? signal}) before it listened`)));
    child.once('error', reject);
  });
  return {
    url,
    pid: child.pid,
    close: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/**
 * The configuration of a bench server: on 127.0.0.1 (a free port), the database `databaseUrl` names (the
 * embedded one when undefined), one host (the simulated one just launched), no simulated host of its own,
 * error-level logs.
 */
export function benchServerConfig(o: {
  dataDir: string;
  databaseUrl: string | undefined;
  apiKey: string;
  host: { name: string; url: string; kmsToken: string };
  dbPool?: number;
}): Config {
  return {
    ...loadConfig({}),
    ...(o.dbPool ? { dbPool: o.dbPool } : {}),
    host: '127.0.0.1',
    port: 0,
    dataDir: o.dataDir,
    databaseUrl: o.databaseUrl,
    apiKey: o.apiKey,
    simulatedHost: false,
    hosts: [o.host],
    logLevel: 'error',
    // the bench drives hundreds of commits a second with one key, and every guest asks the KMS from 127.0.0.1
    rateLimitPublic: 0,
    rateLimitMutations: 0,
  };
}
