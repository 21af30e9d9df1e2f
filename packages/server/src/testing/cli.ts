/** Run the official `phala` CLI (a devDependency) against a test server, in a scratch HOME. */
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

// `phala` exports no subpaths, so resolve its bundle through the module entry point
const CLI = fileURLToPath(import.meta.resolve('phala'));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function makeCli(apiUrl: string, apiKey: string) {
  const home = mkdtempSync(join(tmpdir(), 'opencvm-cli-home-'));
  return {
    home,
    run(args: string[], opts: { cwd?: string; timeoutMs?: number; env?: Record<string, string> } = {}): Promise<CliResult> {
      return new Promise((resolve) => {
        const child = execFile(
          process.execPath,
          [CLI, ...args],
          {
            cwd: opts.cwd ?? home,
            timeout: opts.timeoutMs ?? 60_000,
            env: {
              PATH: process.env.PATH,
              HOME: home,
              PHALA_CLOUD_DIR: join(home, '.phala-cloud'),
              PHALA_CLOUD_API_PREFIX: apiUrl,
              PHALA_CLOUD_API_KEY: apiKey,
              PHALA_DISABLE_UPDATE_CHECK: '1',
              CI: '1',
              NO_COLOR: '1',
              ...opts.env,
            },
          },
          (err, stdout, stderr) => {
            // a command killed by the timeout (e.g. waiting at a prompt) failed, whatever it exited with
            if (err && (err as { killed?: boolean }).killed) return resolve({ code: 124, stdout, stderr: `${stderr}\n[killed after the timeout]` });
            resolve({ code: err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0, stdout, stderr });
          },
        );
        // no terminal and no input: a command that asks a question gets EOF at once instead of hanging
        child.stdin?.end();
      });
    },
  };
}
