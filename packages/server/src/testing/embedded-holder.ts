/**
 * Starts the embedded PostgreSQL on the data directory given as the first argument, prints `ready <pid>` and
 * waits: `db/embedded.test.ts` kills this process to leave a postmaster running, as a killed server does.
 */
import { join } from 'node:path';
import { startEmbeddedPostgres } from '../db/embedded.ts';

const dataDir = process.argv[2];
const pg = await startEmbeddedPostgres({ dir: join(dataDir, 'pgdata'), passwordFile: join(dataDir, 'pgdata.password'), logFile: join(dataDir, 'postgres.log') });
process.stdout.write(`ready ${pg.pid}\n`);
setInterval(() => {}, 60_000);
