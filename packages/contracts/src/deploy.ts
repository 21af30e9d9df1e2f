/** Deploying our KMS contract with viem, and what follows from its address (the next app id). */
import {
  createPublicClient,
  createWalletClient,
  defineChain,
  getAddress,
  getContractAddress,
  http,
  zeroAddress,
  type Address,
  type Chain,
  type Hex,
  type PublicClient,
} from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { kmsAuthAbi, kmsAuthBytecode } from './artifacts.ts';

/** A viem chain for an RPC URL and chain id (what a wallet client needs to sign for that chain). */
export function chainAt(rpcUrl: string, chainId: number, name = `chain ${chainId}`): Chain {
  return defineChain({
    id: chainId,
    name,
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
  });
}

export interface DeployKmsOptions {
  rpcUrl: string;
  chainId: number;
  /** The account that deploys and owns the KMS contract (owner-only calls: OS images, KMS info, gateway app id). */
  privateKey: Hex;
  /** An AppAuth already on the chain for apps to be clones of; default: the KMS contract deploys its own. */
  appImplementation?: Address;
  /** OS image hashes to allow at once (32 bytes each). */
  osImageHashes?: Hex[];
  /** The gateway's app id to record (`gatewayAppId()`). */
  gatewayAppId?: string;
  /** The KMS's public keys to record (`kmsInfo()`). */
  kmsInfo?: { k256Pubkey: Hex; caPubkey: Hex; quote?: Hex; eventlog?: Hex };
}

export interface DeployedKms {
  address: Address;
  appImplementation: Address;
  owner: Address;
  transactionHash: Hex;
  blockNumber: bigint;
}

/** Deploys KmsAuth (and, unless given one, the AppAuth it clones), then records the optional settings; each
 * transaction is waited for, so the KMS is ready when this answers. */
export async function deployKms(options: DeployKmsOptions): Promise<DeployedKms> {
  const chain = chainAt(options.rpcUrl, options.chainId);
  const account = privateKeyToAccount(options.privateKey);
  const wallet = createWalletClient({ account, chain, transport: http(options.rpcUrl) });
  const client = createPublicClient({ chain, transport: http(options.rpcUrl) });
  const transactionHash = await wallet.deployContract({
    abi: kmsAuthAbi,
    bytecode: kmsAuthBytecode,
    args: [account.address, options.appImplementation ?? zeroAddress],
  });
  const receipt = await client.waitForTransactionReceipt({ hash: transactionHash });
  if (receipt.status !== 'success' || !receipt.contractAddress) {
    throw new Error(`deploying the KMS contract failed (transaction ${transactionHash})`);
  }
  const address = getAddress(receipt.contractAddress);
  const send = async (hash: Hex, what: string) => {
    const r = await client.waitForTransactionReceipt({ hash });
    if (r.status !== 'success') throw new Error(`${what} on the KMS contract ${address} failed (transaction ${hash})`);
  };
  for (const hash of options.osImageHashes ?? []) {
    await send(await wallet.writeContract({ address, abi: kmsAuthAbi, functionName: 'addOsImageHash', args: [hash] }), 'addOsImageHash');
  }
  if (options.gatewayAppId !== undefined) {
    await send(
      await wallet.writeContract({ address, abi: kmsAuthAbi, functionName: 'setGatewayAppId', args: [options.gatewayAppId] }),
      'setGatewayAppId',
    );
  }
  if (options.kmsInfo) {
    const { k256Pubkey, caPubkey, quote = '0x', eventlog = '0x' } = options.kmsInfo;
    await send(
      await wallet.writeContract({ address, abi: kmsAuthAbi, functionName: 'setKmsInfo', args: [{ k256Pubkey, caPubkey, quote, eventlog }] }),
      'setKmsInfo',
    );
  }
  const appImplementation = await client.readContract({ address, abi: kmsAuthAbi, functionName: 'appImplementation' });
  return { address, appImplementation, owner: account.address, transactionHash, blockNumber: receipt.blockNumber };
}

/**
 * The app id the KMS contract's next `deployAndRegisterApp` will give: the app contract is created with CREATE
 * from the KMS contract, so its address follows from the KMS contract's account nonce (read now; a deploy mined
 * in between takes it).
 */
export async function nextAppId(client: PublicClient, kmsAddress: Address): Promise<Address> {
  const nonce = await client.getTransactionCount({ address: kmsAddress, blockTag: 'latest' });
  return getContractAddress({ from: kmsAddress, nonce: BigInt(nonce) });
}
