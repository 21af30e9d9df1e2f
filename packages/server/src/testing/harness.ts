/**
 * Test harness: a real server on 127.0.0.1 (free port) with its own simulated dstack host, on a fresh
 * PostgreSQL database (`databases.ts`: a copy of the migrated template on the run's cluster), dropped by
 * `close()`.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startVmmSim, type VmmSim, type VmmSimOptions } from '@opencvm/vmm-sim';
import { startServer, type RunningServer, type StartOptions } from '../app.ts';
import { loadConfig, type Config } from '../config.ts';
import { simulatedDeviceId } from '../services/nodes.ts';
import { checkAnswers, type Violation } from './response-check.ts';
import { freshTestDatabase } from './databases.ts';

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

export interface TestEnvOptions {
  sim?: VmmSimOptions;
  config?: Partial<Config>;
  /** server options beyond the config: request logging and where it goes, log URL lifetime and clock */
  server?: Pick<StartOptions, 'logger' | 'logStream' | 'logUrls' | 'rateLimitClock'>;
  /** worker timings and retry policy beyond the harness's short polls */
  worker?: StartOptions['worker'];
  /** the webhook deliverer's timings beyond the harness's short polls and backoff */
  webhooks?: StartOptions['webhooks'];
}

export async function startTestEnv(opts: TestEnvOptions = {}): Promise<TestEnv> {
  const dataDir = mkdtempSync(join(tmpdir(), 'opencvm-test-'));
  const kmsToken = randomBytes(24).toString('base64url');
  const apiKey = `phak_test_${randomBytes(24).toString('base64url')}`;
  const database = await freshTestDatabase();
  const sim = await startVmmSim({ name: 'sim-test', bootMs: 300, shutdownMs: 100, kmsToken, deviceId: simulatedDeviceId('sim-test'), ...opts.sim });
  const config: Config = {
    ...loadConfig({}),
    port: 0,
    dataDir,
    databaseUrl: database.url,
    apiKey,
    simulatedHost: false,
    hosts: [{ name: 'sim-test', url: sim.url, kmsToken }],
    // the reconciler brings no CVM back on its own here (suites stop and remove VMs behind the server's back to
    // see what it shows); the suites of recovery turn it on
    recoveryAttempts: 0,
    // no rate limits (suites hammer endpoints from one address and one key); rate-limit.test.ts sets small ones
    rateLimitPublic: 0,
    rateLimitMutations: 0,
    // webhook receivers in the suites listen on 127.0.0.1 (webhooks-ssrf.test.ts turns this off)
    webhookAllowPrivate: true,
    ...opts.config,
  };
  const violations: Violation[] = [];
  const start = async () => {
    return startServer({
      ...opts.server,
      config,
      worker: { bootPollMs: 50, pollMs: 200, ...opts.worker },
      webhooks: { pollMs: 100, backoffBaseMs: 100, backoffCapMs: 400, ...opts.webhooks },
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
      await database.drop();
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
