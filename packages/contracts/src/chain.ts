/**
 * A local chain for development and tests: anvil (the `@foundry-rs/anvil` npm package, pinned) on 127.0.0.1, in
 * its own process group, stopped with that group. `startChain()` answers once anvil listens, with its RPC URL,
 * chain id and funded accounts (anvil's well-known test keys: never use them on a real chain). The chain gets
 * Multicall3's `aggregate3` at its usual address, as real chains have it (the official SDK's batched reads use it).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestClient, getAddress, http, type Address, type Hex } from 'viem';
import { multicall3DeployedBytecode } from './artifacts.ts';

/** Where Ethereum, Base and most chains have Multicall3, which viem's `multicall` calls. */
export const MULTICALL3_ADDRESS: Address = '0xcA11bde05977b3631167028862bE2a173976CA11';

export interface ChainAccount {
  address: Address;
  privateKey: Hex;
}

export interface LocalChain {
  rpcUrl: string;
  chainId: number;
  port: number;
  pid: number;
  /** Funded accounts (10,000 ETH each), the first one anvil's account 0. */
  accounts: ChainAccount[];
  /** Stops anvil and its process group; resolves once it has exited. Calling it again is harmless. */
  stop(): Promise<void>;
}

export interface ChainOptions {
  /** Default 31337, anvil's own. The official SDK knows 1 (Ethereum), 8453 (Base) and 31337 (anvil), but reads
   * batched device allow-lists only where viem knows a Multicall3 address: on 1 and 8453, not on 31337. */
  chainId?: number;
  /** Default 0: a free port, chosen by anvil. */
  port?: number;
  /** How many funded accounts (default 10). */
  accounts?: number;
  /** Each line anvil prints, e.g. to show it in a terminal (default: kept only for error messages). */
  onOutput?: (line: string) => void;
}

const PLATFORM_PACKAGES: Record<string, string | undefined> = {
  'linux-x64': '@foundry-rs/anvil-linux-amd64',
  'linux-arm64': '@foundry-rs/anvil-linux-arm64',
  'darwin-x64': '@foundry-rs/anvil-darwin-amd64',
  'darwin-arm64': '@foundry-rs/anvil-darwin-arm64',
  'win32-x64': '@foundry-rs/anvil-win32-amd64',
};

/** The anvil executable the `@foundry-rs/anvil` package installed for this platform. */
export function anvilBinary(): string {
  const pkg = PLATFORM_PACKAGES[`${process.platform}-${process.arch}`];
  if (!pkg) throw new Error(`@foundry-rs/anvil has no anvil binary for ${process.platform}-${process.arch}`);
  const require = createRequire(import.meta.url);
  let dir: string;
  try {
    dir = join(require.resolve(`${pkg}/package.json`), '..');
  } catch {
    throw new Error(`${pkg} is not installed (it comes with @foundry-rs/anvil as an optional dependency): run npm install`);
  }
  return join(dir, 'bin', process.platform === 'win32' ? 'anvil.exe' : 'anvil');
}

/** How long anvil may take to start listening before `startChain` gives up (a start-up guard, not a measurement). */
const START_LIMIT_MS = 60_000;
const STOP_GRACE_MS = 5_000;

export async function startChain(options: ChainOptions = {}): Promise<LocalChain> {
  const chainId = options.chainId ?? 31337;
  const dir = mkdtempSync(join(tmpdir(), 'opencvm-anvil-'));
  const configFile = join(dir, 'anvil.json');
  const child = spawn(
    anvilBinary(),
    [
      '--host', '127.0.0.1',
      '--port', String(options.port ?? 0),
      '--chain-id', String(chainId),
      '--accounts', String(options.accounts ?? 10),
      '--config-out', configFile,
    ],
    { detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const pid = child.pid;
  if (pid === undefined) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`anvil could not be started (${anvilBinary()})`);
  }
  const tail: string[] = [];
  let exited = false;
  const exit = new Promise<void>((resolve) => child.once('exit', () => { exited = true; resolve(); }));
  const killGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-pid, signal);
    } catch {
      // already gone
    }
  };
  // A test or script that ends without stop() must not leave anvil behind.
  const onExit = () => killGroup('SIGKILL');
  process.once('exit', onExit);

  const listening = new Promise<number>((resolve, reject) => {
    const onLine = (line: string) => {
      options.onOutput?.(line);
      tail.push(line);
      if (tail.length > 40) tail.shift();
      const m = /^Listening on 127\.0\.0\.1:(\d+)/.exec(line.trim());
      if (m) resolve(Number(m[1]));
    };
    for (const stream of [child.stdout, child.stderr]) {
      let buffer = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        buffer += chunk;
        let i: number;
        while ((i = buffer.indexOf('\n')) >= 0) {
          onLine(buffer.slice(0, i));
          buffer = buffer.slice(i + 1);
        }
      });
    }
    child.once('error', reject);
    void exit.then(() => reject(new Error(`anvil exited before listening:\n${tail.join('\n')}`)));
  });
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`anvil did not listen within ${START_LIMIT_MS / 1000} s:\n${tail.join('\n')}`)), START_LIMIT_MS);
  });

  const stop = async () => {
    process.removeListener('exit', onExit);
    if (!exited) {
      killGroup('SIGTERM');
      const grace = setTimeout(() => killGroup('SIGKILL'), STOP_GRACE_MS);
      await exit;
      clearTimeout(grace);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    const port = await Promise.race([listening, limit]);
    const config = JSON.parse(readFileSync(configFile, 'utf8')) as { available_accounts: string[]; private_keys: string[] };
    const accounts = config.available_accounts.map((address, i) => ({
      address: getAddress(address),
      privateKey: config.private_keys[i] as Hex,
    }));
    const rpcUrl = `http://127.0.0.1:${port}`;
    await createTestClient({ mode: 'anvil', transport: http(rpcUrl) }).setCode({ address: MULTICALL3_ADDRESS, bytecode: multicall3DeployedBytecode });
    return { rpcUrl, chainId, port, pid, accounts, stop };
  } catch (e) {
    await stop();
    throw e;
  } finally {
    clearTimeout(timer);
  }
}
