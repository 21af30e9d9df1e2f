/** `npm run chain` as a user runs it: the export lines it prints describe chains that answer, and a signal stops them. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createPublicClient, http, type Address, type Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { kmsAuthAbi } from './artifacts.ts';

test('npm run chain prints each chain\'s configuration and a funded key; SIGTERM stops the chains', async () => {
  const script = fileURLToPath(new URL('./chain-main.ts', import.meta.url));
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
    assert.equal(env.OPENCVM_CHAINS, 'ETHEREUM,BASE');
    const clients = [];
    for (const [name, chainId] of [['ETHEREUM', 1], ['BASE', 8453]] as const) {
      assert.equal(env[`OPENCVM_CHAIN_${name}_ID`], String(chainId));
      const client = createPublicClient({ transport: http(env[`OPENCVM_CHAIN_${name}_RPC_URL`], { retryCount: 0 }) });
      clients.push(client);
      assert.equal(await client.getChainId(), chainId);
      const kms = env[`OPENCVM_CHAIN_${name}_KMS_CONTRACT`] as Address;
      const owner = privateKeyToAccount(env[`OPENCVM_CHAIN_${name}_OWNER_PRIVATE_KEY`] as Hex).address;
      assert.equal(await client.readContract({ address: kms, abi: kmsAuthAbi, functionName: 'owner' }), owner);
    }
    assert.equal(env.ETH_RPC_URL, env.OPENCVM_CHAIN_ETHEREUM_RPC_URL);
    const user = privateKeyToAccount(env.PRIVATE_KEY as Hex).address;
    assert.ok((await clients[0]!.getBalance({ address: user })) > 10n ** 18n, 'PRIVATE_KEY is funded');

    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    for (const client of clients) await assert.rejects(client.getChainId(), 'the chain stopped with the script');
  } finally {
    // Whatever failed above, the script (and so its chains) does not outlive the test.
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  }
});
