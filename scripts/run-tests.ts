/**
 * `npm test` runner: every `packages/<pkg>/src/**\/*.test.ts`, with node's own test runner.
 * (Node 20's `--test` does not expand globs, so the files are listed here.) Arguments narrow the set:
 * `npm run test:unit -- provision security` runs only files whose path contains one of the words.
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

function findTests(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' || e.name === 'dist' ? [] : findTests(path);
    return e.name.endsWith('.test.ts') ? [path] : [];
  });
}

const filters = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const files = readdirSync(join(root, 'packages'))
  .flatMap((pkg) => findTests(join(root, 'packages', pkg, 'src')))
  .map((f) => relative(root, f))
  .filter((f) => !filters.length || filters.some((w) => f.includes(w)))
  .sort();
if (!files.length) {
  console.error(`no test files match ${filters.join(', ')}`);
  process.exit(1);
}
const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', ...files], { cwd: root, stdio: 'inherit' });
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => child.kill(sig));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
