/**
 * `npm test` runner: every `packages/<pkg>/src/**\/*.test.ts` and `scripts/*.test.ts` (the scripts a user runs),
 * with node's own test runner.
 * (Node 20's `--test` does not expand globs, so the files are listed here.) Arguments narrow the set:
 * `npm run test:unit -- provision security` runs only files whose path contains one of the words.
 *
 * The tests run on PostgreSQL: OPENCVM_TEST_DATABASE_URL (or DATABASE_URL) names a server whose user may
 * create databases; without either, one embedded PostgreSQL is started for the run (the server's own
 * binaries, in a temp dir removed at the end, also on SIGINT/SIGTERM; fsync off: nothing in it needs to
 * survive). The test processes get its URL as OPENCVM_TEST_DATABASE_URL; each test env copies a template
 * database migrated once here (`testing/databases.ts`).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../packages/server/src/db/embedded.ts';
import { isPostgresUrl } from '../packages/server/src/db/index.ts';
import { ensureTemplate } from '../packages/server/src/testing/databases.ts';

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
  .concat(findTests(join(root, 'scripts')))
  .map((f) => relative(root, f))
  .filter((f) => !filters.length || filters.some((w) => f.includes(w)))
  .sort();
if (!files.length) {
  console.error(`no test files match ${filters.join(', ')}`);
  process.exit(1);
}

const external = process.env.OPENCVM_TEST_DATABASE_URL || (isPostgresUrl(process.env.DATABASE_URL) ? process.env.DATABASE_URL : undefined);
let cluster: EmbeddedPostgres | undefined;
let clusterDir: string | undefined;
let child: ReturnType<typeof spawn> | undefined;
let signalled = false;

async function cleanup() {
  await cluster?.stop().catch((e) => console.error(`stopping the test PostgreSQL: ${(e as Error).message}`));
  if (clusterDir) rmSync(clusterDir, { recursive: true, force: true });
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    signalled = true;
    if (child) child.kill(sig);
    else void cleanup().then(() => process.exit(1));
  });
}

let adminUrl = external;
try {
  if (!adminUrl) {
    clusterDir = mkdtempSync(join(tmpdir(), 'opencvm-test-pg-'));
    cluster = await startEmbeddedPostgres({
      dir: join(clusterDir, 'pgdata'),
      passwordFile: join(clusterDir, 'password'),
      logFile: join(clusterDir, 'postgres.log'),
      durable: false,
      settings: { max_connections: '300' },
    });
    adminUrl = cluster.url;
  }
  await ensureTemplate(adminUrl);
} catch (e) {
  console.error(`the test PostgreSQL could not be prepared: ${(e as Error).message}`);
  await cleanup();
  process.exit(1);
}
if (signalled) {
  await cleanup();
  process.exit(1);
}

child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', ...files], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, OPENCVM_TEST_DATABASE_URL: adminUrl },
});
child.on('exit', (code, signal) => {
  void cleanup().then(() => process.exit(code ?? (signal ? 1 : 0)));
});
