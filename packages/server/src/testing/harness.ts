/**
 * Test harness: a real server on 127.0.0.1 (free port) with its own simulated dstack host, on a fresh
 * database — PGlite by default (started from a migrated template dump, so no initdb per test), or a
 * fresh PostgreSQL database when OPENCVM_TEST_DATABASE_URL points at a cluster.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startVmmSim, type VmmSim, type VmmSimOptions } from '@opencvm/vmm-sim';
import { startServer, type RunningServer, type StartOptions } from '../app.ts';
import { loadConfig, type Config } from '../config.ts';
import { migrations } from '../db/index.ts';
import { simulatedDeviceId } from '../services/nodes.ts';
import { checkAnswers, type Violation } from './response-check.ts';

export interface TestEnv {
  server: RunningServer;
  /** answers that did not match the contract so far (`close()` fails if there are any) */
  violations: Violation[];
  sim: VmmSim;
  apiUrl: string;
  apiKey: string;
  dataDir: string;
  /** the configuration the server runs with (another server on the same database starts from it) */
  config: Config;
  /** stop the server only (data dir, database and host stay), e.g. to restart it */
  stopServer(): Promise<void>;
  /** start the server again on the same data dir, database and host */
  restartServer(): Promise<RunningServer>;
  close(): Promise<void>;
}

/** The database a suite runs on: "pglite" or "postgres" (from OPENCVM_TEST_DATABASE_URL). */
export const testDatabaseKind = process.env.OPENCVM_TEST_DATABASE_URL ? 'postgres' : 'pglite';

let template: Promise<Blob> | undefined;

/** A PGlite data dir with every migration applied, cached on disk per migration set. */
function pgliteTemplate(): Promise<Blob> {
  template ??= (async () => {
    const hash = createHash('sha256').update(migrations().map((m) => m.sql).join('\n')).digest('hex').slice(0, 16);
    const file = join(tmpdir(), `opencvm-pglite-template-${hash}.tar.gz`);
    if (existsSync(file)) return new Blob([readFileSync(file)]);
    const { openPglite } = await import('../db/pglite.ts');
    const { migrate } = await import('../db/index.ts');
    const db = await openPglite();
    await migrate(db);
    const dump = await db.dumpDataDir!();
    await db.close();
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, Buffer.from(await dump.arrayBuffer()));
    renameSync(tmp, file);
    return dump;
  })();
  return template;
}

async function freshPostgresDatabase(adminUrl: string): Promise<string> {
  const name = `opencvm_test_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  await client.query(`CREATE DATABASE ${name}`);
  await client.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

export interface TestEnvOptions {
  sim?: VmmSimOptions;
  config?: Partial<Config>;
  /** server options beyond the config: request logging and where it goes, log URL lifetime and clock */
  server?: Pick<StartOptions, 'logger' | 'logStream' | 'logUrls'>;
}

export async function startTestEnv(opts: TestEnvOptions = {}): Promise<TestEnv> {
  const dataDir = mkdtempSync(join(tmpdir(), 'opencvm-test-'));
  const kmsToken = randomBytes(24).toString('base64url');
  const apiKey = `phak_test_${randomBytes(24).toString('base64url')}`;
  const adminUrl = process.env.OPENCVM_TEST_DATABASE_URL;
  const databaseUrl = adminUrl ? await freshPostgresDatabase(adminUrl) : undefined;
  const sim = await startVmmSim({ name: 'sim-test', bootMs: 300, shutdownMs: 100, kmsToken, deviceId: simulatedDeviceId('sim-test'), ...opts.sim });
  const config: Config = {
    ...loadConfig({}),
    port: 0,
    dataDir,
    databaseUrl,
    apiKey,
    simulatedHost: false,
    hosts: [{ name: 'sim-test', url: sim.url, kmsToken }],
    ...opts.config,
  };
  let firstStart = true;
  const violations: Violation[] = [];
  const start = async () => {
    const load = !databaseUrl && firstStart ? await pgliteTemplate() : undefined;
    firstStart = false;
    return startServer({
      ...opts.server,
      config,
      loadDataDir: load,
      worker: { bootPollMs: 50, pollMs: 200 },
      // every answer of every suite is checked against the contract (and the official SDK's schema)
      instrument: (app) => checkAnswers(app, (v) => violations.push(v)),
    });
  };
  let server = await start();
  // a restart keeps the port: the host's VMs were told this KMS URL
  config.port = Number(new URL(server.url).port);
  const env: TestEnv = {
    get server() {
      return server;
    },
    sim,
    violations,
    get apiUrl() {
      return server.apiUrl;
    },
    apiKey,
    dataDir,
    config,
    stopServer: () => server.close(),
    async restartServer() {
      await server.close();
      server = await start();
      return server;
    },
    async close() {
      await server.close();
      await sim.close();
      rmSync(dataDir, { recursive: true, force: true });
      if (violations.length) {
        throw new Error(
          `${violations.length} answer(s) did not match the contract:\n${violations.map((v) => `  ${v.request} → ${v.status}: ${v.problem}`).join('\n')}`,
        );
      }
    },
  } as TestEnv;
  return env;
}
