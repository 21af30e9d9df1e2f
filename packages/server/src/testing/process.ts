/**
 * The repo's programs as child processes, as an operator runs them (`npm start`'s `main.ts`, `npm run sim`'s
 * simulated host): started through the repo's tsx with only the environment given (plus PATH and HOME),
 * their output kept so that a failing test can show the last lines, and killed with SIGKILL for the crash tests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { waitFor } from './wait.ts';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

/** How many of a process's last output lines are kept. */
const KEPT_LINES = 200;

/** `script` (a path from the repo's root) in a process of its own; its output lines are appended to `log`. */
export function runScript(script: string, env: Record<string, string>, log: string[]): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const keep = (b: Buffer) => {
    log.push(...b.toString().split('\n').filter(Boolean));
    if (log.length > KEPT_LINES) log.splice(0, log.length - KEPT_LINES);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  return child;
}

/**
 * The server (`packages/server/src/main.ts`) with `env`, once `readyUrl` answers 2xx to `apiKey`. Fails if the
 * process exits first, or after `timeoutMs`, with the last lines of its output.
 */
export async function startServerProcess(env: Record<string, string>, opts: { readyUrl: string; apiKey: string; log: string[]; timeoutMs?: number }): Promise<ChildProcess> {
  const child = runScript('packages/server/src/main.ts', env, opts.log);
  await waitFor(async () => {
    if (child.exitCode !== null) throw new Error(`the server exited (${child.exitCode}): ${opts.log.slice(-20).join('\n')}`);
    const res = await fetch(opts.readyUrl, { headers: { 'x-api-key': opts.apiKey } }).catch(() => null);
    return res?.ok ? true : null;
  }, opts.timeoutMs ?? 60_000, 100);
  return child;
}

/** SIGKILL, and wait until the process is gone (nothing if it already is). */
export async function killHard(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((res) => child.once('exit', res));
  child.kill('SIGKILL');
  await exited;
}
