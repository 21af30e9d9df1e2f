/**
 * On-chain KMS tests: a real local chain (anvil, with Ethereum's chain id so the official SDK and CLI pick their
 * viem chain and find Multicall3) with our KMS contract deployed, allowing the simulated host's production OS
 * images, and a test env whose server serves `ETHEREUM` from it.
 */
import { createClient, deployAppAuth } from '@phala/cloud';
import { createPublicClient, createWalletClient, http, type Address, type Chain, type Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { appAuthAbi, chainAt, deployKms, kmsAuthAbi, quietly, startChain, type ChainAccount, type DeployedKms, type LocalChain } from '@opencvm/contracts';
import { defaultImages } from '@opencvm/vmm-sim';
import type { ChainConfig } from '../config.ts';
import { startTestEnv, type TestEnv, type TestEnvOptions } from './harness.ts';

export interface TestChain {
  chain: LocalChain;
  kms: DeployedKms;
  /** the server's configuration of this chain (as `ETHEREUM`) */
  config: ChainConfig;
  /** owns the KMS contract (anvil's account 0) */
  kmsOwner: ChainAccount;
  /** a user who deploys apps and owns them (anvil's account 1) */
  user: ChainAccount;
  /** another funded account (a multisig's signer, a stranger) (anvil's account 2) */
  other: ChainAccount;
  stop(): Promise<void>;
}

/** A fresh anvil with our KMS contract, allowing the simulated host's production OS images. */
export async function startTestChain(opts: { chainId?: number; kmsType?: ChainConfig['kmsType']; gatewayAppId?: string } = {}): Promise<TestChain> {
  const chainId = opts.chainId ?? 1;
  const chain = await startChain({ chainId });
  try {
    const [kmsOwner, user, other] = chain.accounts;
    const kms = await deployKms({
      rpcUrl: chain.rpcUrl,
      chainId,
      privateKey: kmsOwner!.privateKey,
      osImageHashes: defaultImages().filter((i) => !i.isDev).map((i) => `0x${i.osImageHash}` as const),
      ...(opts.gatewayAppId !== undefined ? { gatewayAppId: opts.gatewayAppId } : {}),
    });
    return {
      chain,
      kms,
      config: { kmsType: opts.kmsType ?? 'ethereum', chainId, rpcUrl: chain.rpcUrl, kmsContract: kms.address.toLowerCase() },
      kmsOwner: kmsOwner!,
      user: user!,
      other: other!,
      stop: () => chain.stop(),
    };
  } catch (e) {
    await chain.stop();
    throw e;
  }
}

export interface OnChainEnv {
  env: TestEnv;
  chain: TestChain;
  close(): Promise<void>;
}

/** A test env whose server offers `ETHEREUM` on a fresh local chain (and PHALA, as always). */
export async function startOnChainEnv(opts: TestEnvOptions = {}, chainOpts: Parameters<typeof startTestChain>[0] = {}): Promise<OnChainEnv> {
  const chain = await startTestChain(chainOpts);
  try {
    const env = await startTestEnv({ ...opts, config: { ...opts.config, chains: [chain.config] } });
    return {
      env,
      chain,
      close: async () => {
        await env.close();
        await chain.stop();
      },
    };
  } catch (e) {
    await chain.stop();
    throw e;
  }
}

/** The official SDK's on-chain helpers print receipts with console.log: `quietly` keeps test output readable. */
export { quietly };

export interface OnChainDeployOptions {
  /** deploy the app contract for this device instead of the provision's (a device the CVM's host is not; '': none) */
  deviceId?: string;
  /** register this compose hash instead of the provision's ('' registers none) */
  composeHash?: string;
  allowAnyDevice?: boolean;
  /** the app owner's key (default: the chain's `user`) */
  privateKey?: `0x${string}`;
}

/**
 * The on-chain deploy as Phala's docs write it, with the official SDK: provision with `kms: "ETHEREUM"`,
 * `deployAppAuth` against the provision's KMS contract, commit with the app's contract. Answers the provision,
 * the deployed app and the commit's answer (or the commit's error, `commitError`).
 */
export async function deployOnChain(oc: OnChainEnv, name: string, compose: string, o: OnChainDeployOptions = {}) {
  const client = createClient({ apiKey: oc.env.apiKey, baseURL: oc.env.apiUrl });
  const provision = await client.provisionCvm({ name, compose_file: { docker_compose_file: compose }, kms: 'ETHEREUM' });
  const deployed = await quietly(() =>
    deployAppAuth({
      chain: provision.kms_info!.chain as Chain,
      rpcUrl: oc.chain.chain.rpcUrl,
      kmsContractAddress: provision.kms_info!.kms_contract_address as `0x${string}`,
      privateKey: o.privateKey ?? oc.chain.user.privateKey,
      ...(o.deviceId === '' ? {} : { deviceId: o.deviceId ?? provision.device_id! }),
      ...(o.composeHash === '' ? {} : { composeHash: o.composeHash ?? provision.compose_hash }),
      ...(o.allowAnyDevice ? { allowAnyDevice: true } : {}),
    }),
  );
  const commit = () =>
    client.commitCvmProvision({
      app_id: deployed.appId,
      compose_hash: provision.compose_hash,
      kms_id: provision.kms_id!,
      contract_address: deployed.appAuthAddress,
      deployer_address: deployed.deployer,
    });
  return { client, provision, deployed, commit };
}

const clientsOf = (t: TestChain, from: ChainAccount) => {
  const chain = chainAt(t.chain.rpcUrl, t.config.chainId);
  return {
    wallet: createWalletClient({ account: privateKeyToAccount(from.privateKey), chain, transport: http(t.chain.rpcUrl) }),
    client: createPublicClient({ chain, transport: http(t.chain.rpcUrl) }),
  };
};
const bytes32 = (h: string): Hex => `0x${h.replace(/^0x/i, '').padStart(64, '0')}`;

/** One owner-only call on an app's contract (from its owner, the chain's `user`, unless told), mined before it answers. */
export async function sendToApp(
  t: TestChain,
  appId: string,
  call: { fn: 'addComposeHash' | 'removeComposeHash' | 'addDevice' | 'removeDevice'; hex: string } | { fn: 'setAllowAnyDevice'; allow: boolean },
  from: ChainAccount = t.user,
): Promise<Hex> {
  const { wallet, client } = clientsOf(t, from);
  const address = `0x${appId.replace(/^0x/i, '')}` as Address;
  const hash =
    call.fn === 'setAllowAnyDevice'
      ? await wallet.writeContract({ address, abi: appAuthAbi, functionName: call.fn, args: [call.allow] })
      : await wallet.writeContract({ address, abi: appAuthAbi, functionName: call.fn, args: [bytes32(call.hex)] });
  const receipt = await client.waitForTransactionReceipt({ hash });
  if (receipt.status !== 'success') throw new Error(`${call.fn} on ${address} reverted`);
  return hash;
}

/** One owner-only call on the KMS contract (from its owner), mined before it answers. */
export async function sendToKms(t: TestChain, fn: 'addKmsDevice' | 'removeKmsDevice' | 'addOsImageHash' | 'removeOsImageHash', hex: string): Promise<Hex> {
  const { wallet, client } = clientsOf(t, t.kmsOwner);
  const hash = await wallet.writeContract({ address: t.config.kmsContract as Address, abi: kmsAuthAbi, functionName: fn, args: [bytes32(hex)] });
  const receipt = await client.waitForTransactionReceipt({ hash });
  if (receipt.status !== 'success') throw new Error(`${fn} on the KMS contract reverted`);
  return hash;
}

/** What an app's contract says now: `allowAnyDevice`, and `allowedDeviceIds` / `allowedComposeHashes` of some ids. */
export async function readApp(t: TestChain, appId: string, q: { devices?: string[]; hashes?: string[] } = {}) {
  const { client } = clientsOf(t, t.user);
  const address = `0x${appId.replace(/^0x/i, '')}` as Address;
  const [allowAnyDevice, devices, hashes] = await Promise.all([
    client.readContract({ address, abi: appAuthAbi, functionName: 'allowAnyDevice' }),
    Promise.all((q.devices ?? []).map((d) => client.readContract({ address, abi: appAuthAbi, functionName: 'allowedDeviceIds', args: [bytes32(d)] }))),
    Promise.all((q.hashes ?? []).map((h) => client.readContract({ address, abi: appAuthAbi, functionName: 'allowedComposeHashes', args: [bytes32(h)] }))),
  ]);
  return { allowAnyDevice, devices, hashes };
}
