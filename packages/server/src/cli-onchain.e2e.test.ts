/**
 * The official `phala` CLI's on-chain deploy (`phala deploy --kms ethereum`) against a real server, simulated host
 * and local chain: it provisions, deploys and registers the app's contract with an anvil account's key, fetches the app's env key (`GET /kms/{slug}/pubkey/0x<app>`), commits; the CVM boots with the sealed
 * env, its keys released because the chain allows the boot.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { appAuthAbi, chainAt } from '@opencvm/contracts';
import { createPublicClient, http, type Address } from 'viem';
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
