/**
 * The databases the tests run on: one PostgreSQL cluster per test run (`scripts/run-tests.ts` starts an
 * embedded one, or OPENCVM_TEST_DATABASE_URL names a server), a template database migrated once per
 * migration set, and a fresh database per test env copied from it (`CREATE DATABASE … TEMPLATE`), so no
 * test pays for the migrations or sees another's rows.
 */
import { createHash, randomBytes } from 'node:crypto';
import pg from 'pg';
import { migrate, migrations } from '../db/index.ts';
import { openPostgres } from '../db/postgres.ts';

/** The cluster's superuser URL the tests run on, or an error saying how to get one. */
export function testAdminUrl(): string {
  const url = process.env.OPENCVM_TEST_DATABASE_URL;
  if (!url) {
    throw new Error(
      'OPENCVM_TEST_DATABASE_URL is not set: run tests with `npm test` or `npm run test:unit -- <words>` (they start a PostgreSQL for the run), or set it to a postgres:// URL whose user may create databases',
    );
  }
  return url;
}

const withDatabase = (url: string, name: string) => {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
};

async function admin<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** a fixed key for the advisory lock that guards the template's creation (test processes start together) */
const TEMPLATE_LOCK = 0x6f70656e74706c; // "opentpl"

/**
 * The name of a database with every migration applied, created if missing (named after the migrations, so a
 * changed migration gets a template of its own). Safe to call from several processes at once.
 */
export async function ensureTemplate(adminUrl: string): Promise<string> {
  const hash = createHash('sha256').update(migrations().map((m) => m.name + '\n' + m.sql).join('\n')).digest('hex').slice(0, 16);
  const name = `opencvm_template_${hash}`;
  await admin(adminUrl, async (c) => {
    await c.query('SELECT pg_advisory_lock($1)', [TEMPLATE_LOCK]);
    try {
      const { rowCount } = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
      if (rowCount) return;
      // built under another name and renamed when complete, so a run stopped half-way leaves no bad template
      const building = `${name}_building`;
      await c.query(`DROP DATABASE IF EXISTS ${building} WITH (FORCE)`);
      await c.query(`CREATE DATABASE ${building}`);
      const db = await openPostgres(withDatabase(adminUrl, building), { max: 2 });
      try {
        await migrate(db);
      } finally {
        await db.close();
      }
      await c.query(`ALTER DATABASE ${building} RENAME TO ${name}`);
    } finally {
      await c.query('SELECT pg_advisory_unlock($1)', [TEMPLATE_LOCK]);
    }
  });
  return name;
}

let template: Promise<string> | undefined;

/** A new database, migrated (a copy of the template): its URL and a function that drops it. */
export async function freshTestDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const adminUrl = testAdminUrl();
  template ??= ensureTemplate(adminUrl);
  const tpl = await template;
  const name = `opencvm_test_${randomBytes(6).toString('hex')}`;
  await admin(adminUrl, (c) => c.query(`CREATE DATABASE ${name} TEMPLATE ${tpl}`));
  return {
    url: withDatabase(adminUrl, name),
    drop: () => admin(adminUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => {}),
  };
}

/** An empty database (no migrations), for tests of what a start does on one: its URL and a drop. */
export async function emptyTestDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const adminUrl = testAdminUrl();
  const name = `opencvm_empty_${randomBytes(6).toString('hex')}`;
  await admin(adminUrl, (c) => c.query(`CREATE DATABASE ${name}`));
  return {
    url: withDatabase(adminUrl, name),
    drop: () => admin(adminUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => {}),
  };
}
