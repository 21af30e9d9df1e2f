/**
 * `npm run bench:paginated`: part c of `npm run bench` alone (GET /cvms/paginated p99
 * and server RSS at 100 000 CVMs), on the embedded PostgreSQL and/or a throwaway one. BENCH_DB=embedded|postgres runs one only;
 * BENCH_REPEAT=n runs each n times.
 */
import pg from 'pg';
import { startThrowawayPostgres } from '../scripts/pg-throwaway.ts';
import { PAGINATED_CVMS, benchPaginated, type PaginatedResult } from './paginated.ts';

const only = process.env.BENCH_DB;
const repeat = Number(process.env.BENCH_REPEAT ?? 1);
const show = (label: string, r: PaginatedResult) =>
  console.log(`${label.padEnd(10)} ${PAGINATED_CVMS} CVMs: p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms (<= 30), RSS ${r.rssMb.toFixed(1)} MB (<= 250)`);

if (only !== 'postgres') for (let i = 0; i < repeat; i++) show('embedded', await benchPaginated(undefined));
if (only !== 'embedded') {
  const cluster = await startThrowawayPostgres({ log: () => {} });
  try {
    for (let i = 0; i < repeat; i++) {
      const admin = new pg.Client({ connectionString: cluster.url });
      await admin.connect();
      await admin.query(`CREATE DATABASE opencvm_bench_paginated_${i}`);
      await admin.end();
      show('PostgreSQL', await benchPaginated(cluster.url.replace(/\/postgres$/, `/opencvm_bench_paginated_${i}`)));
    }
  } finally {
    await cluster.stop();
  }
}
