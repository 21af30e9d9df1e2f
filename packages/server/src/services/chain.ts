/**
 * The chains of the on-chain KMS types (`ETHEREUM`, `BASE`): every read the server makes of a KMS contract
 * (DstackKms-compatible: the app registry, the OS image allow-list, `isAppAllowed`) and of an app's AppAuth
 * contract (DstackApp-compatible: compose hashes, devices), and the check that a transaction really added a
 * compose hash. Reads only: the server never signs a transaction; the app's owner does, with the official SDK
 * or CLI.
 *
 * A chain that does not answer (connection refused, timeout, an RPC error) is a 503 `ERR-02-016` with
 * Retry-After, raised before anything is written: callers read the chain first, then write in one transaction.
 */
import { kmsAuthAbi, appAuthAbi } from '@opencvm/contracts';
import {
  ApiError,
  ErrorCodes,
  badRequest,
  type KmsRecord,
} from '@opencvm/core';
import {
  createPublicClient,
  decodeEventLog,
  http,
  zeroAddress,
  zeroHash,
  type Address,
  type Hex,
  type PublicClient,
} from 'viem';
import type { ChainConfig } from '../config.ts';

/** How long one JSON-RPC request may take before the chain counts as not answering. */
const RPC_TIMEOUT_MS = 5_000;
/** What a caller waits before trying again when the chain does not answer. */
const RETRY_AFTER_S = 5;

/** What the KMS and an app's contract say about an app, its compose hash and a device. */
export interface AppOnChain {
  /** registered in the KMS contract (`registeredApps`) */
  registered: boolean;
  /** a contract is deployed at the app id */
  deployed: boolean;
  composeHashAllowed: boolean;
  allowAnyDevice: boolean;
  /** null when no device was asked about */
  deviceAllowed: boolean | null;
  /** the app contract's owner (zero address when there is no contract) */
  owner: Address;
}

/** dstack's AppBootInfo, as the KMS contract's `isAppAllowed` takes it. */
export interface BootInfo {
  appId: string;
  composeHash: string;
  instanceId?: string | null;
  deviceId?: string | null;
  mrAggregated?: string | null;
  mrSystem?: string | null;
  osImageHash?: string | null;
  tcbStatus?: string;
  advisoryIds?: string[];
}

/** How a transaction stands against "it added compose hash H to app A". */
export type ComposeHashProof =
  | { ok: true }
  | { ok: false; reason: 'not-found' | 'reverted' | 'no-such-event' };

const hex32 = (h: string | null | undefined): Hex => {
  const t = (h ?? '').replace(/^0x/i, '').toLowerCase();
  return (t ? `0x${t.padStart(64, '0')}` : zeroHash) as Hex;
};
const hex20 = (h: string | null | undefined): Address => {
  const t = (h ?? '').replace(/^0x/i, '').toLowerCase();
  return (t ? `0x${t.padStart(40, '0')}` : zeroAddress) as Address;
};

/** dstack's `AppBootInfo` tuple: hex left-padded to each field's size (as dstack's auth-eth does), zero when absent. */
function appBootInfo(boot: BootInfo) {
  return {
    appId: hex20(boot.appId),
    composeHash: hex32(boot.composeHash),
    instanceId: hex20(boot.instanceId),
    deviceId: hex32(boot.deviceId),
    mrAggregated: hex32(boot.mrAggregated),
    mrSystem: hex32(boot.mrSystem),
    osImageHash: hex32(boot.osImageHash),
    tcbStatus: boot.tcbStatus ?? 'UpToDate',
    advisoryIds: boot.advisoryIds ?? [],
  };
}

interface Handle {
  config: ChainConfig;
  client: PublicClient;
}

export class ChainService {
  private readonly handles = new Map<string, Handle>();

  constructor(chains: ChainConfig[], opts: { timeoutMs?: number } = {}) {
    for (const c of chains) {
      const client = createPublicClient({ transport: http(c.rpcUrl, { timeout: opts.timeoutMs ?? RPC_TIMEOUT_MS, retryCount: 0 }) });
      this.handles.set(c.kmsType, { config: c, client: client as PublicClient });
    }
  }

  /** The configured chain of a KMS type, or null. */
  chainOf(kmsType: string): ChainConfig | null {
    return this.handles.get(kmsType.toLowerCase())?.config ?? null;
  }

  /** The KMS types this server offers: `phala`, and those of the configured chains. */
  offeredKmsTypes(): string[] {
    return ['phala', ...this.handles.keys()];
  }

  /** The configured chains. */
  chains(): ChainConfig[] {
    return [...this.handles.values()].map((h) => h.config);
  }

  /** What the KMS contract and the app's contract say about the app, a compose hash and (optionally) a device. */
  async app(kms: KmsRecord, appId: string, q: { composeHash: string; deviceId?: string | null }): Promise<AppOnChain> {
    const { config, client } = this.handle(kms);
    const app = hex20(appId);
    return this.read(config, async () => {
      const [registered, code] = await Promise.all([
        client.readContract({ address: hex20(config.kmsContract), abi: kmsAuthAbi, functionName: 'registeredApps', args: [app] }),
        client.getCode({ address: app }),
      ]);
      const deployed = !!code && code !== '0x';
      if (!deployed) {
        return { registered, deployed, composeHashAllowed: false, allowAnyDevice: false, deviceAllowed: q.deviceId ? false : null, owner: zeroAddress };
      }
      const [composeHashAllowed, allowAnyDevice, deviceAllowed, owner] = await Promise.all([
        client.readContract({ address: app, abi: appAuthAbi, functionName: 'allowedComposeHashes', args: [hex32(q.composeHash)] }),
        client.readContract({ address: app, abi: appAuthAbi, functionName: 'allowAnyDevice' }),
        q.deviceId
          ? client.readContract({ address: app, abi: appAuthAbi, functionName: 'allowedDeviceIds', args: [hex32(q.deviceId)] })
          : Promise.resolve(null),
        client.readContract({ address: app, abi: appAuthAbi, functionName: 'owner' }),
      ]);
      return { registered, deployed, composeHashAllowed, allowAnyDevice, deviceAllowed, owner };
    });
  }

  /** `allowedDeviceIds` of an app's contract for each device (and `allowAnyDevice`). */
  async devices(kms: KmsRecord, appId: string, deviceIds: string[]): Promise<{ allowAnyDevice: boolean; allowed: Map<string, boolean> }> {
    const { config, client } = this.handle(kms);
    const app = hex20(appId);
    return this.read(config, async () => {
      const [allowAnyDevice, ...each] = await Promise.all([
        client.readContract({ address: app, abi: appAuthAbi, functionName: 'allowAnyDevice' }),
        ...deviceIds.map((d) => client.readContract({ address: app, abi: appAuthAbi, functionName: 'allowedDeviceIds', args: [hex32(d)] })),
      ]);
      return { allowAnyDevice, allowed: new Map(deviceIds.map((d, i) => [d, each[i]])) };
    });
  }

  /** Which of these OS image hashes the KMS contract allows (`allowedOsImages`). */
  async osImages(kms: KmsRecord, hashes: string[]): Promise<Map<string, boolean>> {
    const { config, client } = this.handle(kms);
    return this.read(config, async () => {
      const each = await Promise.all(
        hashes.map((h) => client.readContract({ address: hex20(config.kmsContract), abi: kmsAuthAbi, functionName: 'allowedOsImages', args: [hex32(h)] })),
      );
      return new Map(hashes.map((h, i) => [h, each[i]]));
    });
  }

  /** Which of these devices the KMS contract lists in `kmsAllowedDeviceIds` (the devices a KMS instance may run on). */
  async kmsDevices(kms: KmsRecord, deviceIds: string[]): Promise<Map<string, boolean>> {
    const { config, client } = this.handle(kms);
    return this.read(config, async () => {
      const each = await Promise.all(
        deviceIds.map((d) => client.readContract({ address: hex20(config.kmsContract), abi: kmsAuthAbi, functionName: 'kmsAllowedDeviceIds', args: [hex32(d)] })),
      );
      return new Map(deviceIds.map((d, i) => [d, each[i]]));
    });
  }

  /**
   * The KMS contract's verdict on a boot (`isAppAllowed(AppBootInfo)`): the app is registered, the OS image
   * allowed, and the app's contract allows the compose hash and the device, as dstack's KMS asks it.
   */
  isAppAllowed(kms: Pick<KmsRecord, 'kms_type'>, boot: BootInfo): Promise<{ allowed: boolean; reason: string }> {
    return this.verdict(kms, 'isAppAllowed', boot);
  }

  /**
   * The KMS contract's verdict on a KMS instance's boot (`isKmsAllowed(AppBootInfo)`: TCB up to date, OS
   * image, aggregated MR and device allowed), as dstack-kms asks it of itself and of the KMS it replicates from.
   */
  isKmsAllowed(kms: Pick<KmsRecord, 'kms_type'>, boot: BootInfo): Promise<{ allowed: boolean; reason: string }> {
    return this.verdict(kms, 'isKmsAllowed', boot);
  }

  private async verdict(kms: Pick<KmsRecord, 'kms_type'>, functionName: 'isAppAllowed' | 'isKmsAllowed', boot: BootInfo) {
    const { config, client } = this.handle(kms);
    return this.read(config, async () => {
      const [allowed, reason] = await client.readContract({ address: hex20(config.kmsContract), abi: kmsAuthAbi, functionName, args: [appBootInfo(boot)] });
      return { allowed, reason };
    });
  }

  /** The KMS contract's `gatewayAppId()` ('' when none is set) and `appImplementation()`. */
  async kmsSettings(kms: Pick<KmsRecord, 'kms_type'>): Promise<{ gatewayAppId: string; appImplementation: Address }> {
    const { config, client } = this.handle(kms);
    return this.read(config, async () => {
      const address = hex20(config.kmsContract);
      const [gatewayAppId, appImplementation] = await Promise.all([
        client.readContract({ address, abi: kmsAuthAbi, functionName: 'gatewayAppId' }),
        client.readContract({ address, abi: kmsAuthAbi, functionName: 'appImplementation' }),
      ]);
      return { gatewayAppId, appImplementation };
    });
  }

  /**
   * Does transaction `txHash` prove that `composeHash` was added to app `appId`: mined, successful, and
   * carrying the app contract's `ComposeHashAdded(composeHash)` event? Whether the hash is still allowed
   * now is a separate read (`app`).
   */
  async composeHashAddedBy(kms: KmsRecord, appId: string, composeHash: string, txHash: string): Promise<ComposeHashProof> {
    const { config, client } = this.handle(kms);
    if (!/^0x[0-9a-fA-F]{64}$/.test(txHash)) return { ok: false, reason: 'not-found' };
    return this.read(config, async () => {
      let receipt;
      try {
        receipt = await client.getTransactionReceipt({ hash: txHash as Hex });
      } catch (e) {
        if ((e as Error).name === 'TransactionReceiptNotFoundError') return { ok: false, reason: 'not-found' } as const;
        throw e;
      }
      if (receipt.status !== 'success') return { ok: false, reason: 'reverted' } as const;
      const app = hex20(appId).toLowerCase();
      const wanted = hex32(composeHash).toLowerCase();
      const added = receipt.logs.some((log) => {
        if (log.address.toLowerCase() !== app) return false;
        try {
          const ev = decodeEventLog({ abi: appAuthAbi, data: log.data, topics: log.topics });
          return ev.eventName === 'ComposeHashAdded' && String((ev.args as { composeHash: Hex }).composeHash).toLowerCase() === wanted;
        } catch {
          return false;
        }
      });
      return added ? ({ ok: true } as const) : ({ ok: false, reason: 'no-such-event' } as const);
    });
  }

  private handle(kms: Pick<KmsRecord, 'kms_type'>): Handle {
    const h = this.handles.get(kms.kms_type);
    if (!h) {
      const t = kms.kms_type.toUpperCase();
      throw badRequest(ErrorCodes.KMS_NOT_FOUND,
        `The ${t} KMS has no chain configured on this server (OPENCVM_${t}_RPC_URL and OPENCVM_${t}_KMS_CONTRACT): ask its operator.`);
    }
    return h;
  }

  /** Run chain reads; a chain that does not answer becomes the 503 callers pass on. */
  private async read<T>(config: ChainConfig, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof ApiError) throw e;
      throw chainUnavailable(config, e);
    }
  }
}

/** 503 `ERR-02-016`: the chain did not answer; nothing was written. `why` is the RPC's own reason, one line. */
export class ChainUnavailableError extends ApiError {
  constructor(
    readonly chain: ChainConfig,
    readonly why: string,
  ) {
    super(503, ErrorCodes.CHAIN_UNAVAILABLE,
      `The ${chain.kmsType.toUpperCase()} chain (id ${chain.chainId}) did not answer (${why}); nothing was changed. Try again shortly.`,
      { headers: { 'Retry-After': String(RETRY_AFTER_S) } });
  }
}

export function chainUnavailable(config: ChainConfig, cause: unknown): ChainUnavailableError {
  const why = (cause as { shortMessage?: string })?.shortMessage ?? (cause as Error)?.message ?? String(cause);
  return new ChainUnavailableError(config, why.split('\n')[0].slice(0, 200));
}
