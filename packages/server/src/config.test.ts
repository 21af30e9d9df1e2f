/**
 * `loadConfig`: the whole environment through one schema. Defaults, the values each variable takes, and for
 * each variable a bad value, refused with a message that names the variable, the value (secrets hidden) and
 * what is expected. And no server file but config.ts reads `process.env`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONFIG_VARIABLES, ConfigError, loadConfig } from './config.ts';

function refused(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (e) {
    assert.ok(e instanceof ConfigError, `not a ConfigError: ${e}`);
    assert.ok(!e.message.includes('\n'), `more than one line: ${e.message}`);
    return e.message;
  }
  assert.fail(`accepted ${JSON.stringify(env)}`);
}

test('defaults: an empty environment gives the documented configuration', () => {
  assert.deepEqual(loadConfig({}), {
    host: '127.0.0.1',
    port: 8000,
    dataDir: resolve('./.opencvm'),
    databaseUrl: undefined,
    dbPool: 10,
    dbPort: 0,
    apiKey: undefined,
    sealKey: undefined,
    publicUrl: undefined,
    hosts: [],
    simulatedHost: true,
    simBootMs: 2000,
    provisionTtlMs: 14 * 24 * 3600 * 1000,
    reconcileMs: 5000,
    orphanGraceMs: 300_000,
    unreachableAfter: 3,
    recoveryAttempts: 5,
    recoveryBackoffMs: 5000,
    logLevel: 'info',
    metricsToken: undefined,
    adminKey: undefined,
    chains: [],
    githubUrl: 'https://github.com',
    rateLimitPublic: 600,
    rateLimitMutations: 600,
    trustProxy: false,
    webhookAllowPrivate: false,
    webhookTimeoutMs: 10_000,
    webhookMaxAgeMs: 86_400_000,
    webhookSecretGraceMs: 86_400_000,
    eventRetentionDays: 90,
  });
  // an empty variable is unset, and variables the server does not know are ignored
  const empty = Object.fromEntries(CONFIG_VARIABLES.map((k) => [k, '']));
  assert.deepEqual(loadConfig({ ...empty, SOMETHING_ELSE: 'x' }), loadConfig({}));
});

test('each variable is read', () => {
  const c = loadConfig({
    PORT: '0',
    HOST: '0.0.0.0',
    OPENCVM_DATA_DIR: '/var/lib/opencvm',
    DATABASE_URL: 'postgresql://opencvm:pw@db:5432/opencvm',
    OPENCVM_API_KEY: 'phak_my-own_key',
    OPENCVM_PUBLIC_URL: 'https://cvm.example.com/',
    OPENCVM_HOSTS: 'host-a=http://10.0.0.5:9080#s3cret#guest-token, host-b=https://10.0.0.6:9080',
    OPENCVM_SIMULATED_HOST: '1',
    OPENCVM_SIM_BOOT_MS: '0',
    OPENCVM_RECONCILE_MS: '50',
    OPENCVM_ORPHAN_GRACE_MS: '60000',
    LOG_LEVEL: 'debug',
    OPENCVM_DB_POOL: '32',
    OPENCVM_DB_PORT: '5433',
    OPENCVM_METRICS_TOKEN: 'scrape-token-0123456789',
    OPENCVM_ADMIN_KEY: 'admin-key-0123456789abcdef',
    OPENCVM_SEAL_KEY: '00'.repeat(31) + 'ff',
    OPENCVM_GITHUB_URL: 'http://127.0.0.1:9999/',
    OPENCVM_RATE_LIMIT_PUBLIC: '30',
    OPENCVM_RATE_LIMIT_MUTATIONS: '0',
    OPENCVM_TRUST_PROXY: '10.0.0.0/8, 127.0.0.1,fd00::/8',
  });
  assert.equal(c.port, 0);
  assert.equal(c.host, '0.0.0.0');
  assert.equal(c.dataDir, '/var/lib/opencvm');
  assert.equal(c.databaseUrl, 'postgresql://opencvm:pw@db:5432/opencvm');
  assert.equal(c.dbPort, 5433);
  assert.equal(c.apiKey, 'phak_my-own_key');
  assert.equal(c.publicUrl, 'https://cvm.example.com', 'the trailing slash is dropped: paths are appended to it');
  assert.deepEqual(c.hosts, [
    { name: 'host-a', url: 'http://10.0.0.5:9080', authToken: 's3cret', kmsToken: 'guest-token' },
    { name: 'host-b', url: 'https://10.0.0.6:9080', authToken: undefined, kmsToken: undefined },
  ]);
  assert.equal(c.simulatedHost, true, 'OPENCVM_SIMULATED_HOST=1 forces it beside real hosts');
  assert.equal(c.simBootMs, 0);
  assert.equal(c.reconcileMs, 50);
  assert.equal(c.orphanGraceMs, 60_000);
  assert.equal(c.logLevel, 'debug');
  assert.equal(c.dbPool, 32);
  assert.equal(c.metricsToken, 'scrape-token-0123456789');
  assert.equal(c.adminKey, 'admin-key-0123456789abcdef');
  assert.deepEqual(c.sealKey, Buffer.from('00'.repeat(31) + 'ff', 'hex'));
  assert.equal(c.githubUrl, 'http://127.0.0.1:9999', 'the trailing slash is dropped: /<user>.keys is appended to it');
  assert.equal(c.rateLimitPublic, 30);
  assert.equal(c.rateLimitMutations, 0, '0: no limit');
  assert.deepEqual(c.trustProxy, ['10.0.0.0/8', '127.0.0.1', 'fd00::/8']);
  assert.equal(loadConfig({ OPENCVM_TRUST_PROXY: '2' }).trustProxy, 2, 'a number of hops');
  assert.equal(loadConfig({ OPENCVM_TRUST_PROXY: '0' }).trustProxy, false, '0: the socket address');
  const b64 = Buffer.alloc(32, 7).toString('base64');
  assert.deepEqual(loadConfig({ OPENCVM_SEAL_KEY: b64 }).sealKey, Buffer.alloc(32, 7), 'base64');
  assert.deepEqual(loadConfig({ OPENCVM_SEAL_KEY: Buffer.alloc(32, 0xfb).toString('base64url') }).sealKey, Buffer.alloc(32, 0xfb), 'base64url');

  assert.equal(loadConfig({ OPENCVM_HOSTS: 'a=http://h:1' }).simulatedHost, false, 'no simulated host beside real ones by default');
  assert.equal(loadConfig({ OPENCVM_SIMULATED_HOST: '0' }).simulatedHost, false);
  assert.equal(loadConfig({ OPENCVM_SIMULATED_HOST: 'false' }).simulatedHost, false);
  assert.equal(loadConfig({ OPENCVM_HOSTS: 'a=http://h:1', OPENCVM_SIMULATED_HOST: 'true' }).simulatedHost, true);
});

// [variable, bad value, words of what is expected]
const bad: [string, string, RegExp][] = [
  ['PORT', 'eighty', /port number, 0 to 65535/],
  ['OPENCVM_RATE_LIMIT_PUBLIC', '-1', /requests a minute per client address, 0 \(no limit\) or more/],
  ['OPENCVM_RATE_LIMIT_MUTATIONS', '10/s', /requests a minute per API key, 0 \(no limit\) or more/],
  ['OPENCVM_TRUST_PROXY', 'true', /number of proxy hops to trust, or comma-separated proxy addresses or CIDR ranges.*"true" is not an address/],
  ['OPENCVM_TRUST_PROXY', '10.0.0.0/33', /invalid prefix length/],
  ['OPENCVM_GITHUB_URL', 'github.com', /http:\/\/ or https:\/\/ URL without query or fragment/],
  ['OPENCVM_GITHUB_URL', 'https://github.com/?x=1', /without query or fragment/],
  ['PORT', '65536', /port number/],
  ['PORT', '80.5', /port number/],
  ['HOST', 'http://0.0.0.0', /host name or IP address/],
  ['DATABASE_URL', 'mysql://db/opencvm', /postgres:\/\/ or postgresql:\/\/ URL/],
  ['OPENCVM_PUBLIC_URL', 'cvm.example.com', /http:\/\/ or https:\/\/ URL/],
  ['OPENCVM_PUBLIC_URL', 'https://cvm.example.com/?x=1', /without query or fragment/],
  ['OPENCVM_HOSTS', 'http://10.0.0.5:9080', /name=http:\/\/host:port.*no name=/],
  ['OPENCVM_HOSTS', 'a=10.0.0.5:9080', /name=http:\/\/host:port.*URL of "a"/],
  ['OPENCVM_HOSTS', 'a=http://x:1,a=http://y:1', /named twice/],
  ['OPENCVM_HOSTS', 'a=http://x:1,,b=http://y:1', /an entry is empty/],
  ['OPENCVM_SIMULATED_HOST', 'yes', /0 \(no simulated host\) or 1/],
  ['OPENCVM_SIM_BOOT_MS', 'abc', /whole number of milliseconds, 0 or more/],
  ['OPENCVM_SIM_BOOT_MS', '-5', /whole number of milliseconds/],
  ['OPENCVM_RECONCILE_MS', '10', /whole number of milliseconds, 50 or more/],
  ['OPENCVM_RECONCILE_MS', '5s', /milliseconds/],
  ['OPENCVM_ORPHAN_GRACE_MS', '5m', /whole number of milliseconds, 0 or more/],
  ['OPENCVM_UNREACHABLE_AFTER', '0', /whole number of reconcile ticks, 1 or more/],
  ['OPENCVM_RECOVERY_ATTEMPTS', '-1', /whole number of attempts, 0 \(never\) or more/],
  ['OPENCVM_RECOVERY_BACKOFF_MS', '5s', /whole number of milliseconds, 0 or more/],
  ['LOG_LEVEL', 'verbose', /one of fatal, error, warn, info, debug, trace, silent/],
  ['OPENCVM_DB_POOL', '0', /whole number of connections, 1 or more/],
  ['OPENCVM_DB_POOL', 'many', /whole number of connections/],
  ['OPENCVM_DB_PORT', '70000', /port number, 0 to 65535/],
  ['OPENCVM_ETHEREUM_KMS_CONTRACT', '0x1234', /KMS contract address, 0x and 40 hex digits/],
  ['OPENCVM_BASE_KMS_CONTRACT', 'kms', /KMS contract address/],
  ['OPENCVM_ETHEREUM_CHAIN_ID', '0', /chain id, 1 or more/],
  ['OPENCVM_BASE_CHAIN_ID', 'base', /chain id/],
  ['OPENCVM_WEBHOOK_ALLOW_PRIVATE', 'yes', /0 \(webhook URLs must resolve to public addresses\) or 1/],
  ['OPENCVM_WEBHOOK_TIMEOUT_MS', '50', /milliseconds, 100 to 60000/],
  ['OPENCVM_WEBHOOK_MAX_AGE_MS', '1d', /milliseconds, 1000 to 604800000/],
  ['OPENCVM_EVENT_RETENTION_DAYS', '3651', /days, 0 \(keep events for ever\) or 1 to 3650/],
  ['OPENCVM_WEBHOOK_SECRET_GRACE_MS', '-5', /milliseconds, 0 to 604800000/],
];

for (const [name, value, expected] of bad) {
  test(`${name}=${JSON.stringify(value)} is refused, named with its value and what is expected`, () => {
    const message = refused({ [name]: value });
    assert.ok(message.includes(`${name}=${JSON.stringify(value)}`), message);
    assert.match(message, /expected /);
    assert.match(message, expected);
  });
}

test('an RPC URL that is not http(s) is refused without showing it (a provider key may be in it)', () => {
  for (const name of ['OPENCVM_ETHEREUM_RPC_URL', 'OPENCVM_BASE_RPC_URL']) {
    const message = refused({ [name]: 'wss://rpc.example/v2/SECRETKEY' });
    assert.match(message, new RegExp(`${name}="\\(not shown\\)": expected an http:// or https:// JSON-RPC URL`));
    assert.ok(!message.includes('SECRETKEY'), message);
  }
  // a valid URL in an error (another variable is wrong) is not repeated past its origin either
  const message = refused({ OPENCVM_ETHEREUM_RPC_URL: 'https://rpc.example/v2/SECRETKEY', OPENCVM_ETHEREUM_KMS_CONTRACT: 'nope' });
  assert.ok(!message.includes('SECRETKEY'), message);
});

test('a chain needs its RPC URL and its KMS contract; with both, it is configured with its default chain id', () => {
  const contract = '0x' + 'AB'.repeat(20);
  assert.match(refused({ OPENCVM_ETHEREUM_RPC_URL: 'http://127.0.0.1:8545' }), /OPENCVM_ETHEREUM_KMS_CONTRACT is not set: the ETHEREUM KMS needs OPENCVM_ETHEREUM_RPC_URL and OPENCVM_ETHEREUM_KMS_CONTRACT/);
  assert.match(refused({ OPENCVM_BASE_KMS_CONTRACT: contract }), /OPENCVM_BASE_RPC_URL is not set/);
  assert.deepEqual(loadConfig({}).chains, []);
  assert.deepEqual(
    loadConfig({ OPENCVM_ETHEREUM_RPC_URL: 'http://127.0.0.1:8545', OPENCVM_ETHEREUM_KMS_CONTRACT: contract, OPENCVM_BASE_RPC_URL: 'https://base.example/rpc', OPENCVM_BASE_KMS_CONTRACT: contract, OPENCVM_BASE_CHAIN_ID: '31337' }).chains,
    [
      { kmsType: 'ethereum', chainId: 1, rpcUrl: 'http://127.0.0.1:8545', kmsContract: contract.toLowerCase() },
      { kmsType: 'base', chainId: 31337, rpcUrl: 'https://base.example/rpc', kmsContract: contract.toLowerCase() },
    ],
  );
});

test('every variable but OPENCVM_DATA_DIR (any path will do) has a bad value above', () => {
  const covered = new Set([...bad.map(([name]) => name), 'OPENCVM_API_KEY', 'OPENCVM_METRICS_TOKEN', 'OPENCVM_ADMIN_KEY', 'OPENCVM_SEAL_KEY', 'OPENCVM_DATA_DIR', 'OPENCVM_ETHEREUM_RPC_URL', 'OPENCVM_BASE_RPC_URL']);
  assert.deepEqual(CONFIG_VARIABLES.filter((k) => !covered.has(k)), []);
});

test('secrets are named but not repeated: OPENCVM_API_KEY, OPENCVM_METRICS_TOKEN, OPENCVM_SEAL_KEY, the DATABASE_URL password, host tokens', () => {
  const seal = refused({ OPENCVM_SEAL_KEY: 'deadbeef'.repeat(7) });
  assert.match(seal, /OPENCVM_SEAL_KEY=\(56 characters, not shown\): expected 32 bytes/);
  assert.ok(!seal.includes('deadbeef'), seal);
  assert.match(refused({ OPENCVM_SEAL_KEY: 'ab'.repeat(31) }), /OPENCVM_SEAL_KEY=\(62 characters, not shown\): expected 32 bytes as 64 hex digits or as base64 \(it is 62 characters long/);

  const key = refused({ OPENCVM_API_KEY: 'phak_has a space' });
  assert.match(key, /OPENCVM_API_KEY=.*expected printable ASCII characters without spaces/);
  assert.ok(!key.includes('has a space') && !key.includes('phak_'), key);

  for (const token of ['metrics token with spaces', 'short-secret']) {
    const metrics = refused({ OPENCVM_METRICS_TOKEN: token });
    assert.match(metrics, /OPENCVM_METRICS_TOKEN=\(\d+ characters, not shown\): expected at least 16 printable ASCII characters without spaces/);
    assert.ok(!metrics.includes(token), metrics);
  }

  for (const token of ['admin key with spaces', 'short-admin']) {
    const admin = refused({ OPENCVM_ADMIN_KEY: token });
    assert.match(admin, /OPENCVM_ADMIN_KEY=\(\d+ characters, not shown\): expected at least 16 printable ASCII characters without spaces \(sent as X-Admin-Key\)/);
    assert.ok(!admin.includes(token), admin);
  }
  const same = refused({ OPENCVM_API_KEY: 'phak_same-key-for-both', OPENCVM_ADMIN_KEY: 'phak_same-key-for-both' });
  assert.match(same, /OPENCVM_ADMIN_KEY is the same as OPENCVM_API_KEY/);
  assert.ok(!same.includes('phak_same'), same);

  const db = refused({ DATABASE_URL: 'mysql://opencvm:hunter2@db/opencvm' });
  assert.match(db, /DATABASE_URL="mysql:\/\/opencvm:\*\*\*@db\/opencvm"/);
  assert.ok(!db.includes('hunter2'), db);

  const hosts = refused({ OPENCVM_HOSTS: 'a=http://x:1#auth-secret#kms-secret,nope' });
  assert.match(hosts, /OPENCVM_HOSTS="a=http:\/\/x:1#\*\*\*,nope"/);
  assert.ok(!hosts.includes('auth-secret') && !hosts.includes('kms-secret'), hosts);
});

test('several bad values: each is named, on one line', () => {
  const message = refused({ PORT: 'x', OPENCVM_SIM_BOOT_MS: 'abc', LOG_LEVEL: 'loud', OPENCVM_DB_POOL: '-1' });
  for (const part of ['PORT="x"', 'OPENCVM_SIM_BOOT_MS="abc"', 'LOG_LEVEL="loud"', 'OPENCVM_DB_POOL="-1"']) {
    assert.ok(message.includes(part), `${part} missing from: ${message}`);
  }
});

test('no server file but config.ts reads process.env (test helpers aside)', () => {
  const src = fileURLToPath(new URL('.', import.meta.url));
  const files = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? (e.name === 'testing' ? [] : files(join(dir, e.name))) : e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') ? [join(dir, e.name)] : [],
    );
  const readers = files(src)
    .filter((f) => relative(src, f) !== 'config.ts')
    .filter((f) => /process\.env\b/.test(readFileSync(f, 'utf8')))
    .map((f) => relative(src, f));
  assert.deepEqual(readers, []);
});
