/**
 * The official `phala` CLI's on-chain KMS commands against a server serving ETHEREUM (chain id 1) and BASE
 * (chain id 8453), each on its own local chain: `kms list`, `kms ethereum|base`, `cvms device-allowlist` and the
 * six `allow-devices` commands, whose transactions the app's owner signs (`--private-key`) and whose effect is
 * read back from the app's contract.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { deployOnChain, readApp, startTestChain, type OnChainEnv, type TestChain } from './testing/chain.ts';
import { makeCli, type CliResult } from './testing/cli.ts';
import { startTestEnv, type TestEnv } from './testing/harness.ts';

let eth: TestChain;
let base: TestChain;
let env: TestEnv;
let cli: ReturnType<typeof makeCli>;
/** the one node's device */
let device: string;
/** an on-chain app committed on ETHEREUM, and its CVM's name */
let appId: string;
const cvmName = 'cli-onchain-app';

before(async () => {
  eth = await startTestChain();
  base = await startTestChain({ chainId: 8453, kmsType: 'base' });
  env = await startTestEnv({ config: { chains: [eth.config, base.config] } });
  cli = makeCli(env.apiUrl, env.apiKey);
  [{ device_id: device }] = await env.server.db.query<{ device_id: string }>('SELECT device_id FROM nodes');
  const oc: OnChainEnv = { env, chain: eth, close: async () => {} };
  const d = await deployOnChain(oc, cvmName, 'services:\n  web:\n    image: nginx:latest\n');
  appId = (await d.commit()).app_id!;
});
after(async () => {
  await env?.close();
  await eth?.stop();
  await base?.stop();
});

const ok = (r: CliResult, what: string) => assert.equal(r.code, 0, `${what}: ${r.stdout}\n${r.stderr}`);
const json = (r: CliResult) => JSON.parse(r.stdout.slice(r.stdout.indexOf('{')));
const onEth = (key = eth.user.privateKey) => ['--private-key', key, '--rpc-url', eth.chain.rpcUrl];

test('phala kms list: both on-chain KMS with their chain ids and contracts', async () => {
  const r = await cli.run(['kms', 'list', '--json']);
  ok(r, 'kms list');
  const out = JSON.stringify(json(r));
  for (const id of ['kms-ethereum', 'kms-base']) assert.ok(out.includes(`"${id}"`), `${id} listed: ${out}`);
  const text = await cli.run(['kms', 'list']);
  ok(text, 'kms list (table)');
  for (const t of [eth, base]) assert.match(text.stdout, new RegExp(`${t.config.kmsType} +${t.config.kmsContract}`));
});

test('phala kms ethereum / phala kms base: each chain\'s KMS contract, the node\'s device and the OS images', async () => {
  for (const t of [eth, base]) {
    const r = await cli.run(['kms', t.config.kmsType, '--json']);
    ok(r, `kms ${t.config.kmsType}`);
    const detail = json(r);
    assert.equal(detail.chain_id, t.config.chainId);
    assert.equal(detail.contracts[0].contract_address, t.config.kmsContract);
    assert.equal(detail.contracts[0].devices[0].device_id, device);
    const table = await cli.run(['kms', t.config.kmsType]);
    ok(table, `kms ${t.config.kmsType} (table)`);
    // the CLI prints its headings on stderr, the tables on stdout
    assert.match(table.stderr, new RegExp(`Contract: ${t.config.kmsContract}`));
    assert.match(table.stdout, new RegExp(`${device} +sim-test`));
  }
});

test('phala cvms device-allowlist: the app contract\'s allow-list, read from the chain', async () => {
  const r = await cli.run(['cvms', 'device-allowlist', cvmName, '--json']);
  ok(r, 'cvms device-allowlist');
  const list = json(r);
  assert.equal(list.is_onchain_kms, true);
  assert.equal(list.chain_id, 1);
  assert.equal(list.app_contract_address, `0x${appId}`);
  assert.equal(list.devices[0].device_id, device);
  assert.equal(list.devices[0].status, 'allowed');
  const table = await cli.run(['cvms', 'device-allowlist', cvmName]);
  ok(table, 'cvms device-allowlist (table)');
  assert.match(table.stdout, new RegExp(`${device}.*sim-test.*allowed`));
});

test('phala allow-devices list|add|remove|allow-any|disallow-any|toggle-allow-any change the app contract as told', async () => {
  const other = 'a1'.repeat(32);
  const list = await cli.run(['allow-devices', 'list', cvmName, '--rpc-url', eth.chain.rpcUrl]);
  ok(list, 'allow-devices list');
  assert.match(list.stderr, /Allow Any Device: no/);
  assert.match(list.stdout, new RegExp(`0x${device}.*sim-test`, 'i'));

  ok(await cli.run(['allow-devices', 'add', cvmName, `0x${other}`, ...onEth(), '--wait']), 'add a device id');
  assert.deepEqual((await readApp(eth, appId, { devices: [other] })).devices, [true]);

  ok(await cli.run(['allow-devices', 'remove', `app_${appId}`, 'sim-test', ...onEth()]), 'remove by node name');
  assert.deepEqual((await readApp(eth, appId, { devices: [device, other] })).devices, [false, true]);
  const after = await cli.run(['cvms', 'device-allowlist', cvmName, '--json']);
  assert.equal(json(after).devices.find((d: { device_id: string }) => d.device_id === device).status, 'not-allowed');

  ok(await cli.run(['allow-devices', 'add', appId, 'sim-test', ...onEth()]), 'add by node name');
  assert.deepEqual((await readApp(eth, appId, { devices: [device] })).devices, [true]);

  ok(await cli.run(['allow-devices', 'allow-any', cvmName, '--enable', ...onEth()]), 'allow-any --enable');
  assert.equal((await readApp(eth, appId)).allowAnyDevice, true);
  ok(await cli.run(['allow-devices', 'disallow-any', cvmName, ...onEth()]), 'disallow-any');
  assert.equal((await readApp(eth, appId)).allowAnyDevice, false);
  // toggle reads the current flag from GET /apps/{app_id}/device-allowlist: it must follow the chain
  ok(await cli.run(['allow-devices', 'toggle-allow-any', cvmName, ...onEth()]), 'toggle (to on)');
  assert.equal((await readApp(eth, appId)).allowAnyDevice, true);
  ok(await cli.run(['allow-devices', 'toggle-allow-any', cvmName, ...onEth()]), 'toggle (to off)');
  assert.equal((await readApp(eth, appId)).allowAnyDevice, false);
});

test('phala allow-devices add with a key that does not own the app: exit 1, the contract unchanged', async () => {
  const stranger = 'b2'.repeat(32);
  const r = await cli.run(['allow-devices', 'add', cvmName, stranger, ...onEth(eth.other.privateKey)]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  // it got as far as the chain (the allow-list read first answered), which refused the stranger
  assert.match(r.stderr, new RegExp(`Sender ${eth.other.address} is not the owner of contract 0x${appId}`, 'i'));
  assert.deepEqual((await readApp(eth, appId, { devices: [stranger] })).devices, [false]);
});
