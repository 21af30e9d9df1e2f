/**
 * `npm start` (`node --import tsx packages/server/src/main.ts`) as a child process, for what it says when it
 * starts: an invalid configuration is refused in one line on stderr with exit code 1, and the start banner
 * with OPENCVM_API_KEY set points at that variable (no `api-key` file is written then) without printing the key.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONFIG_VARIABLES } from './config.ts';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const mainTs = fileURLToPath(new URL('./main.ts', import.meta.url));

const children: ChildProcess[] = [];
const dirs: string[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'opencvm-main-'));
  dirs.push(d);
  return d;
}

/** main.ts with only `vars` of the server's configuration set (none inherited from this process). */
function startMain(vars: Record<string, string>) {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of [...CONFIG_VARIABLES, 'NODE_TEST_CONTEXT']) delete env[k];
  const child = spawn(process.execPath, ['--import', 'tsx', mainTs], {
    cwd: repoRoot,
    env: { ...env, ...vars },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const out = { stdout: '', stderr: '' };
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out.stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (out.stderr += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, out, exited };
}

test('OPENCVM_SIM_BOOT_MS=abc: main.ts refuses to start, one line on stderr naming the variable, exit code 1', { timeout: 60_000 }, async () => {
  const dataDir = tempDir();
  const { out, exited } = startMain({ OPENCVM_DATA_DIR: join(dataDir, 'data'), PORT: '0', OPENCVM_SIM_BOOT_MS: 'abc' });
  assert.deepEqual(await exited, { code: 1, signal: null }, out.stderr);
  const lines = out.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `not one line:\n${out.stderr}`);
  assert.match(lines[0], /OPENCVM_SIM_BOOT_MS="abc": expected a whole number of milliseconds/);
  assert.doesNotMatch(out.stderr, /\bat .*\.ts:\d+|Error:/, 'no stack trace');
  assert.equal(existsSync(join(dataDir, 'data')), false, 'nothing was started: the data dir was not even created');
});

test('with OPENCVM_API_KEY: the banner points at that variable, not at a missing api-key file, and never shows the key', { timeout: 90_000 }, async () => {
  const dataDir = tempDir();
  const key = `phak_custom_${randomBytes(24).toString('base64url')}`;
  const { child, out, exited } = startMain({ OPENCVM_DATA_DIR: dataDir, PORT: '0', OPENCVM_API_KEY: key, OPENCVM_SIMULATED_HOST: '0' });
  // the banner ends with the PHALA_CLOUD_API_KEY line and a blank line
  const banner = await new Promise<string>((resolve, reject) => {
    const check = () => {
      const m = /\n {2}opencvm API[\s\S]*?PHALA_CLOUD_API_KEY[^\n]*\n(?:[^\n]+\n)*\n/.exec(out.stdout);
      if (m) resolve(m[0]);
    };
    child.stdout!.on('data', check);
    void exited.then((e) => reject(new Error(`main.ts exited (${JSON.stringify(e)}) before its banner:\n${out.stderr}\n${out.stdout}`)));
  });
  child.kill('SIGTERM');
  await exited;

  for (const [, file] of banner.matchAll(/\$\(cat ([^)]+)\)/g)) {
    assert.ok(existsSync(file), `the banner says to cat ${file}, which does not exist:\n${banner}`);
  }
  assert.equal(existsSync(join(dataDir, 'api-key')), false, 'no key was generated, so no api-key file');
  assert.doesNotMatch(banner, /api-key/, `the banner mentions an api-key file:\n${banner}`);
  assert.match(banner, /export PHALA_CLOUD_API_KEY=.*OPENCVM_API_KEY/);
  assert.ok(!out.stdout.includes(key) && !out.stderr.includes(key), 'the configured key is printed');
});
