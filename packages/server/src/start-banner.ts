/**
 * What `npm start` prints once the server is up: where the API is, what it runs on, and the two variables the
 * official SDK and CLI read. The API key line says where the key really is: the `api-key` file this start (or
 * an earlier one) wrote, or OPENCVM_API_KEY's value. The key itself is never part of the banner.
 */
import { join } from 'node:path';
import type { Config } from './config.ts';

export interface BannerFacts {
  apiUrl: string;
  /** the simulated host's URL, when one runs */
  simUrl?: string;
  /** the data dir's `api-key` file */
  keyFile: string;
  /** whether that file exists now (written by this start, or by an earlier one) */
  keyFileExists: boolean;
}

export function startBanner(config: Config, facts: BannerFacts): string {
  const hosts = [...config.hosts.map((h) => h.url), ...(facts.simUrl ? [`${facts.simUrl} (simulated)`] : [])];
  let key: string[];
  if (config.apiKey) {
    key = ['  export PHALA_CLOUD_API_KEY=<the value of OPENCVM_API_KEY>'];
  } else if (facts.keyFileExists) {
    key = [`  export PHALA_CLOUD_API_KEY=$(cat ${facts.keyFile})`];
  } else {
    key = [
      '  export PHALA_CLOUD_API_KEY=<the bootstrap API key>',
      `  (there is no ${facts.keyFile}: the key was printed when this database was first started, from another`,
      '   data dir; or start again with OPENCVM_API_KEY set to a key of your choice)',
    ];
  }
  return [
    '',
    `  opencvm API     ${facts.apiUrl}`,
    `  database        ${config.databaseUrl ? 'PostgreSQL' : `embedded PostgreSQL in ${join(config.dataDir, 'pgdata')} (log: ${join(config.dataDir, 'postgres.log')})`}`,
    `  dstack hosts    ${hosts.length ? hosts.join(', ') : 'none (no OPENCVM_HOSTS, and OPENCVM_SIMULATED_HOST=0)'}`,
    '',
    `  export PHALA_CLOUD_API_PREFIX=${facts.apiUrl}`,
    ...key,
    '',
    '',
  ].join('\n');
}
