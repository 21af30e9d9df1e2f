/**
 * The official `phala` CLI's on-chain deploy (`phala deploy --kms ethereum`) against a real server, simulated host
 * and local chain: it provisions, deploys and registers the app's contract with an anvil account's key, fetches the app's env key (`GET /kms/{slug}/pubkey/0x<app>`), commits; the CVM boots with the sealed
 * env, its keys released because the chain allows the boot.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { addComposeHash } from '@phala/cloud';
import { appAuthAbi, chainAt, quietly } from '@opencvm/contracts';
import { createPublicClient, http, type Address, type Chain } from 'viem';
import { makeCli } from './testing/cli.ts';
import { startOnChainEnv, type OnChainEnv } from './testing/chain.ts';
import { settle } from './testing/deploy.ts';
import { waitFor } from './testing/wait.ts';
import { cvmNameOf } from './services/host-vm-names.ts';

let oc: OnChainEnv;
before(async () => {
  oc = await startOnChainEnv();
});
after(() => oc?.close());

test('phala deploy --kms ethereum with an anvil key and --rpc-url: exits 0 and the CVM runs with its env', async () => {
  const cli = makeCli(oc.env.apiUrl, oc.env.apiKey);
  writeFileSync(join(cli.home, 'docker-compose.yml'), 'services:\n  web:\n    image: nginx\n    environment:\n      - FOO=${FOO}\n');
  writeFileSync(join(cli.home, '.env'), 'FOO=on chain\n');

  const deploy = await cli.run(
    // CLI 1.1.18 reads PRIVATE_KEY for a new on-chain deploy only when it also has --private-key (or asks for
    // it interactively): it refuses PRIVATE_KEY alone, so the key goes on the command line as well
    ['deploy', '-c', 'docker-compose.yml', '-e', '.env', '-n', 'cli-onchain-app', '--kms', 'ethereum',
      '--private-key', oc.chain.user.privateKey, '--rpc-url', oc.chain.chain.rpcUrl],
    { env: { PRIVATE_KEY: oc.chain.user.privateKey }, timeoutMs: 180_000 },
  );
  assert.equal(deploy.code, 0, deploy.stdout + deploy.stderr);

  const vm = await waitFor(() => oc.env.sim.listVms().find((v) => cvmNameOf(v.name) === 'cli-onchain-app' && v.bootProgress === 'done') ?? null, 30_000);
  assert.deepEqual(vm.guest.env, { FOO: 'on chain' });
  const [row] = await oc.env.server.db.query<{ vm_uuid: string; app_id: string; kms_id: string }>(
    "SELECT vm_uuid::text, app_id, kms_id FROM cvms WHERE name = 'cli-onchain-app'",
  );
  assert.equal(row.kms_id, 'kms-ethereum');
  assert.equal(vm.appId, row.app_id);
  await settle(oc.env, row.vm_uuid, 'running');
  // the app id is the app contract the CLI deployed: owned by the key's account, allowing the CVM's compose hash
  const reader = createPublicClient({ chain: chainAt(oc.chain.chain.rpcUrl, 1), transport: http(oc.chain.chain.rpcUrl) });
  const app = `0x${row.app_id}` as Address;
  assert.equal(await reader.readContract({ address: app, abi: appAuthAbi, functionName: 'owner' }), oc.chain.user.address);
  assert.equal(await reader.readContract({ address: app, abi: appAuthAbi, functionName: 'allowedComposeHashes', args: [`0x${vm.composeHash}`] }), true);
  assert.match(deploy.stdout, new RegExp(row.app_id, 'i'));
});

test('phala deploy --cvm-id on an on-chain CVM: the 465, addComposeHash with the key, the confirmation; it runs the new compose', async () => {
  const cli = makeCli(oc.env.apiUrl, oc.env.apiKey);
  writeFileSync(join(cli.home, 'compose-b.yml'), 'services:\n  web:\n    image: nginx:1.27\n');
  const before = await oc.env.server.db.query<{ vm_uuid: string; app_id: string; compose_hash: string }>(
    "SELECT vm_uuid::text, app_id, compose_hash FROM cvms WHERE name = 'cli-onchain-app'",
  );
  assert.equal(before.length, 1, 'the CVM the first test deployed');
  const update = await cli.run(
    ['deploy', '--cvm-id', 'cli-onchain-app', '-c', 'compose-b.yml', '--private-key', oc.chain.user.privateKey, '--rpc-url', oc.chain.chain.rpcUrl],
    { timeoutMs: 180_000 },
  );
  assert.equal(update.code, 0, update.stdout + update.stderr);
  const row = await waitFor(async () => {
    const [r] = await oc.env.server.db.query<{ compose_hash: string; status: string; active: number }>(
      `SELECT c.compose_hash, c.status,
              (SELECT count(*)::int FROM operations o WHERE o.cvm_id = c.id AND o.state IN ('pending', 'running')) AS active
         FROM cvms c WHERE c.name = 'cli-onchain-app'`,
    );
    return r.active === 0 && r.compose_hash !== before[0].compose_hash ? r : null;
  }, 30_000);
  assert.equal(row.status, 'running');
  const vm = oc.env.sim.listVms().find((v) => cvmNameOf(v.name) === 'cli-onchain-app')!;
  assert.equal(vm.composeHash, row.compose_hash);
  assert.match(JSON.parse(vm.configuration.compose_file).docker_compose_file, /nginx:1\.27/);
  // the CLI registered the new hash on the app's contract with the key before confirming
  const reader = createPublicClient({ chain: chainAt(oc.chain.chain.rpcUrl, 1), transport: http(oc.chain.chain.rpcUrl) });
  assert.equal(
    await reader.readContract({ address: `0x${before[0].app_id}` as Address, abi: appAuthAbi, functionName: 'allowedComposeHashes', args: [`0x${row.compose_hash}`] }),
    true,
  );
});

/** The CVM's compose hash once no operation runs and it moved from `from`. */
async function settledOn(name: string, from: string) {
  return waitFor(async () => {
    const [r] = await oc.env.server.db.query<{ compose_hash: string; status: string; active: number }>(
      `SELECT c.compose_hash, c.status,
              (SELECT count(*)::int FROM operations o WHERE o.cvm_id = c.id AND o.state IN ('pending', 'running')) AS active
         FROM cvms c WHERE c.name = $1`,
      [name],
    );
    return r.active === 0 && r.compose_hash !== from ? r : null;
  }, 30_000);
}

test('phala deploy --cvm-id --prepare-only, the hash added by the owner elsewhere, then --commit --token --transaction-hash', async () => {
  const cli = makeCli(oc.env.apiUrl, oc.env.apiKey);
  writeFileSync(join(cli.home, 'compose-c.yml'), 'services:\n  web:\n    image: nginx:1.26\n');
  const [cvm] = await oc.env.server.db.query<{ app_id: string; compose_hash: string }>("SELECT app_id, compose_hash FROM cvms WHERE name = 'cli-onchain-app'");
  const prep = await cli.run(['deploy', '--cvm-id', 'cli-onchain-app', '-c', 'compose-c.yml', '--prepare-only'], { timeoutMs: 120_000 });
  assert.equal(prep.code, 0, prep.stdout + prep.stderr);
  const token = /Commit Token:\s+(\S+)/.exec(prep.stdout)?.[1];
  const hash = /Compose Hash:\s+(?:0x)?([0-9a-f]{64})/i.exec(prep.stdout)?.[1];
  assert.ok(token?.startsWith('ctk_') && hash, `a commit token and compose hash in:\n${prep.stdout}`);
  if (!token) return assert.fail('no commit token');
  assert.match(prep.stdout, /Compose Hash:\s+NOT registered/);
  // the multisig: the owner's signer registers the hash, outside the CLI and the API caller
  const added = await quietly(() => addComposeHash({
    chain: chainAt(oc.chain.chain.rpcUrl, 1) as Chain, rpcUrl: oc.chain.chain.rpcUrl, appId: `0x${cvm.app_id}`, composeHash: hash, privateKey: oc.chain.user.privateKey,
  }));
  const commit = await cli.run(['deploy', '--cvm-id', 'cli-onchain-app', '--commit', '--token', token, '--transaction-hash', added.transactionHash], { timeoutMs: 120_000 });
  assert.equal(commit.code, 0, commit.stdout + commit.stderr);
  const row = await settledOn('cli-onchain-app', cvm.compose_hash);
  assert.equal(row.compose_hash, hash.toLowerCase());
  assert.equal(row.status, 'running');
});
