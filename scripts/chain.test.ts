/**
 * `npm run chain` as a user runs it: the export lines it prints configure a server that offers ETHEREUM and
 * BASE on those chains, whose KMS contracts allow the simulated host's production OS images; a signal stops them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createPublicClient, http, type Address, type Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { kmsAuthAbi } from '@opencvm/contracts';
import { defaultImages } from '@opencvm/vmm-sim';
import { loadConfig } from '../packages/server/src/config.ts';
import { startTestEnv } from '../packages/server/src/testing/harness.ts';

test('npm run chain prints a configuration the server serves ETHEREUM and BASE from, and a funded key; SIGTERM stops the chains', async () => {
  const script = fileURLToPath(new URL('./chain.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    env: { ...process.env, OPENCVM_CHAIN_PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let out = '';
  let err = '';
  try {
    child.stderr.on('data', (c: Buffer) => (err += c));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (c: Buffer) => {
        out += c;
        if (/^export ETH_RPC_URL=.*\n/m.test(out)) resolve();
      });
      void exited.then((code) => reject(new Error(`npm run chain exited (${code}) before printing its configuration:\n${out}${err}`)));
    });
    const env: Record<string, string> = {};
    for (const line of out.split('\n')) {
      const m = /^export ([A-Z0-9_]+)=(\S+)$/.exec(line);
      if (m) env[m[1]!] = m[2]!;
      else assert.ok(line === '' || line.startsWith('#'), `only comments and export lines: ${JSON.stringify(line)}`);
    }
    // the server reads exactly these lines
    const { chains } = loadConfig(env);
    assert.deepEqual(chains.map((c) => [c.kmsType, c.chainId]), [['ethereum', 1], ['base', 8453]]);
    const owner = /private key (0x[0-9a-f]{64})/.exec(out)?.[1] as Hex | undefined;
    assert.ok(owner, 'the KMS owner key is shown in a comment');
    const prodImages = defaultImages().filter((i) => !i.isDev);
    const clients = [];
    for (const c of chains) {
      const client = createPublicClient({ transport: http(c.rpcUrl, { retryCount: 0 }) });
      clients.push(client);
      assert.equal(await client.getChainId(), c.chainId);
      const kms = c.kmsContract as Address;
      assert.equal(await client.readContract({ address: kms, abi: kmsAuthAbi, functionName: 'owner' }), privateKeyToAccount(owner).address);
      for (const image of defaultImages()) {
        const allowed = await client.readContract({ address: kms, abi: kmsAuthAbi, functionName: 'allowedOsImages', args: [`0x${image.osImageHash}`] });
        assert.equal(allowed, !image.isDev, `${image.name} is ${image.isDev ? 'a dev image, not allowed' : 'allowed'}`);
      }
    }
    assert.ok(prodImages.length > 0);
    assert.equal(env.ETH_RPC_URL, env.OPENCVM_ETHEREUM_RPC_URL);
    const user = privateKeyToAccount(env.PRIVATE_KEY as Hex).address;
    assert.ok((await clients[0]!.getBalance({ address: user })) > 10n ** 18n, 'PRIVATE_KEY is funded');

    // a server started with that configuration lists both KMS, with their chains and contracts
    const server = await startTestEnv({ config: { chains } });
    try {
      const r = await fetch(`${server.apiUrl}/kms?is_onchain=true`, { headers: { 'x-api-key': server.apiKey } });
      assert.equal(r.status, 200);
      const body = (await r.json()) as { items: { slug: string; chain_id: number; kms_contract_address: string }[] };
      assert.deepEqual(
        body.items.map((k) => [k.slug, k.chain_id, k.kms_contract_address]),
        chains.map((c) => [c.kmsType, c.chainId, c.kmsContract]),
      );
    } finally {
      await server.close();
    }

    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    for (const client of clients) await assert.rejects(client.getChainId(), 'the chain stopped with the script');
  } finally {
    // Whatever failed above, the script (and so its chains) does not outlive the test.
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  }
});
