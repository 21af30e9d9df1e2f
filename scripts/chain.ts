/**
 * `npm run chain`: local chains for opencvm until Ctrl-C. Starts two anvils on 127.0.0.1, one with Ethereum's
 * chain id (1) on port 8545 and one with Base's (8453) on 8546 (OPENCVM_CHAIN_PORT moves the pair; 0: free
 * ports), deploys a KMS contract on each that allows the simulated host's production OS images, and prints the
 * server's chain configuration as `export NAME=value` lines (`OPENCVM_ETHEREUM_*`, `OPENCVM_BASE_*`: README,
 * Configuration), then a funded test account for the official CLI (`PRIVATE_KEY`, `ETH_RPC_URL`: what
 * `phala deploy --kms ethereum` reads).
 *
 * Why the real chain ids: the official SDK and CLI pick their viem chain from the KMS's `chain_id` (1, 8453 or
 * 31337) and check that the RPC they are given answers that id; only for 1 and 8453 does viem know a Multicall3
 * address, which the SDK's device allow-list reads need.
 */
import { deployKms, startChain, type LocalChain } from '@opencvm/contracts';
import { defaultImages } from '@opencvm/vmm-sim';

/** The OS images an on-chain KMS must allow for `npm start`'s simulated host to boot its apps (production ones). */
const osImageHashes = defaultImages().filter((i) => !i.isDev).map((i) => `0x${i.osImageHash}` as const);

const portText = process.env.OPENCVM_CHAIN_PORT ?? '';
if (portText !== '' && (!/^\d+$/.test(portText) || Number(portText) > 65534)) {
  console.error(`OPENCVM_CHAIN_PORT=${JSON.stringify(portText)}: expected a port from 0 to 65534 (the second chain takes the next one; 0: free ports)`);
  process.exit(1);
}
const firstPort = portText === '' ? 8545 : Number(portText);
const plan = [
  { name: 'ETHEREUM', chainId: 1, port: firstPort },
  { name: 'BASE', chainId: 8453, port: firstPort === 0 ? 0 : firstPort + 1 },
] as const;

const started: LocalChain[] = [];
let stopping = false;
async function stopAll(code: number): Promise<never> {
  stopping = true;
  await Promise.all(started.map((c) => c.stop()));
  process.exit(code);
}
process.once('SIGINT', () => void stopAll(0));
process.once('SIGTERM', () => void stopAll(0));

const lines = ['# opencvm local chains (anvil); Ctrl-C stops them and nothing of them is kept.'];
for (const { name, chainId, port } of plan) {
  let chain: LocalChain;
  try {
    chain = await startChain({ chainId, port });
  } catch (e) {
    console.error(`${(e as Error).message}\n(is something else listening on 127.0.0.1:${port}? Set OPENCVM_CHAIN_PORT to another port, or 0 for free ones.)`);
    await stopAll(1);
  }
  if (stopping) break;
  started.push(chain!);
  // Account 0 owns the KMS contract; account 1 is the user's (it deploys apps and changes their policies).
  const [owner] = chain!.accounts;
  try {
    const kms = await deployKms({ rpcUrl: chain!.rpcUrl, chainId, privateKey: owner.privateKey, osImageHashes });
    lines.push(
      `# ${name}: anvil on ${chain!.rpcUrl}, chain id ${chainId}; its KMS contract is owned by anvil's account 0`,
      `# (private key ${owner.privateKey}: addOsImageHash for other images, setGatewayAppId, …)`,
      `export OPENCVM_${name}_RPC_URL=${chain!.rpcUrl}`,
      `export OPENCVM_${name}_KMS_CONTRACT=${kms.address}`,
      `export OPENCVM_${name}_CHAIN_ID=${chainId}`,
    );
  } catch (e) {
    console.error(`deploying the KMS contract on ${chain!.rpcUrl} failed: ${(e as Error).message}`);
    await stopAll(1);
  }
}
const ethereum = started[0]!;
lines.push(
  '# A funded test account (anvil\'s account 1, a public test key: never send real funds to it) for the',
  '# official CLI and SDK; ETH_RPC_URL is the ETHEREUM chain (for --kms base, pass --rpc-url with BASE\'s).',
  `export PRIVATE_KEY=${ethereum.accounts[1]!.privateKey}`,
  `export ETH_RPC_URL=${ethereum.rpcUrl}`,
);
console.log(lines.join('\n'));
