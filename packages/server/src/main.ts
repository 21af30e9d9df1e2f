/**
 * `npm start`: serve the API from the environment (README "Configuration"). With no hosts configured,
 * one simulated dstack host runs beside the server. SIGTERM and SIGINT shut down cleanly.
 * An invalid configuration stops it before anything starts: one line on stderr, exit code 1; so does one
 * the database refuses (a seal key that cannot open the stored KMS root keys, a host name taken).
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, loadConfig, type Config } from './config.ts';
import { startServer } from './app.ts';
import { startBanner } from './start-banner.ts';

let config: Config;
try {
  config = loadConfig();
} catch (e) {
  if (!(e instanceof ConfigError)) throw e;
  process.stderr.write(`opencvm: ${e.message}\n`);
  process.exit(1);
}
mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });

let server: Awaited<ReturnType<typeof startServer>>;
try {
  server = await startServer({ config, logger: true });
} catch (e) {
  // a configuration the database refuses (a seal key that does not open its KMS root keys, a host name
  // another server registered at another URL): one line, as for a bad variable
  if (!(e instanceof ConfigError)) throw e;
  process.stderr.write(`opencvm: ${e.message}\n`);
  process.exit(1);
}

const keyFile = join(config.dataDir, 'api-key');
if (server.generatedApiKey) {
  writeFileSync(keyFile, server.generatedApiKey + '\n', { mode: 0o600 });
  // printed once, on the start that created it; the file keeps it for later
  process.stdout.write(
    `\n  Bootstrap API key (shown once, also saved to ${keyFile}):\n\n    ${server.generatedApiKey}\n\n`,
  );
}
process.stdout.write(startBanner(config, { apiUrl: server.apiUrl, simUrl: server.sim?.url, keyFile, keyFileExists: existsSync(keyFile) }));

let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    server.app.log.info(`${signal}: shutting down`);
    server
      .close()
      .then(() => process.exit(0))
      .catch((e) => {
        console.error(e);
        process.exit(1);
      });
  });
}
