/**
 * `npm start`: serve the API from the environment (README "Configuration"). With no hosts configured,
 * one simulated dstack host runs beside the server. SIGTERM and SIGINT shut down cleanly.
 * An invalid configuration stops it before anything starts: one line on stderr, exit code 1.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, loadConfig, type Config } from './config.ts';
import { startServer } from './app.ts';

let config: Config;
try {
  config = loadConfig();
} catch (e) {
  if (!(e instanceof ConfigError)) throw e;
  process.stderr.write(`opencvm: ${e.message}\n`);
  process.exit(1);
}
mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });

const server = await startServer({ config, logger: true });

if (server.generatedApiKey) {
  const file = join(config.dataDir, 'api-key');
  writeFileSync(file, server.generatedApiKey + '\n', { mode: 0o600 });
  // printed once, on the start that created it; the file keeps it for later
  process.stdout.write(
    `\n  Bootstrap API key (shown once, also saved to ${file}):\n\n    ${server.generatedApiKey}\n\n`,
  );
}
process.stdout.write(
  [
    '',
    `  opencvm API     ${server.apiUrl}`,
    `  database        ${config.databaseUrl ? 'PostgreSQL' : `PGlite in ${join(config.dataDir, 'pgdata')}`}`,
    `  dstack hosts    ${[...config.hosts.map((h) => h.url), ...(server.sim ? [`${server.sim.url} (simulated)`] : [])].join(', ')}`,
    '',
    `  export PHALA_CLOUD_API_PREFIX=${server.apiUrl}`,
    `  export PHALA_CLOUD_API_KEY=${server.generatedApiKey ? '<the key above>' : `$(cat ${join(config.dataDir, 'api-key')})`}`,
    '',
    '',
  ].join('\n'),
);

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
