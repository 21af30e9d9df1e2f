/**
 * dstack-kms's auth webhook (`POST <url>/bootAuth/app`, `/bootAuth/kms`, `GET <url>/`), answered from the KMS
 * contract of a configured chain as dstack's `kms/auth-eth` answers it, so a real dstack-kms can take opencvm
 * as its authority: `[core.auth_api] type = "webhook"`, `webhook.url = "<server>/kms-auth/ethereum"`.
 *
 * Fail closed: a chain that does not answer (or a contract call that fails) is `isAllowed: false` with reason
 * `authorization backend unavailable`, answered with HTTP 200 as auth-eth does; never an allow.
 */
import { ApiError, ErrorCodes, notFound, type BootInfoRequest } from '@opencvm/core';
import type { ChainConfig } from '../config.ts';
import type { ChainService } from './chain.ts';

/** The reason dstack's auth-eth gives when its chain does not answer. */
export const BACKEND_UNAVAILABLE = 'authorization backend unavailable';

export interface BootVerdict {
  isAllowed: boolean;
  gatewayAppId: string;
  reason: string;
}

export class KmsAuthService {
  constructor(private readonly chain: ChainService) {}

  /** `GET <url>/`: the KMS contract, its chain, gateway app id and app implementation (503 if the chain does not answer). */
  async info(kmsType: string) {
    const config = this.configOf(kmsType);
    const { gatewayAppId, appImplementation } = await this.chain.kmsSettings({ kms_type: config.kmsType });
    return {
      status: 'ok' as const,
      kmsContractAddr: config.kmsContract,
      gatewayAppId,
      chainId: config.chainId,
      // dstack's auth-eth answers both names (the older one for older dstack-kms)
      appAuthImplementation: appImplementation,
      appImplementation,
    };
  }

  /**
   * `POST <url>/bootAuth/app|kms`: the KMS contract's `isAppAllowed` / `isKmsAllowed` and its gateway app id.
   * `backendError` (for the log, never the answer) says why the chain could not be asked.
   */
  async check(kmsType: string, kind: 'app' | 'kms', boot: BootInfoRequest): Promise<{ verdict: BootVerdict; backendError?: string }> {
    const config = this.configOf(kmsType);
    const info = {
      appId: boot.appId,
      composeHash: boot.composeHash,
      instanceId: boot.instanceId,
      deviceId: boot.deviceId,
      mrAggregated: boot.mrAggregated,
      mrSystem: boot.mrSystem,
      osImageHash: boot.osImageHash,
      tcbStatus: boot.tcbStatus,
      advisoryIds: boot.advisoryIds,
    };
    try {
      const kms = { kms_type: config.kmsType };
      const [{ allowed, reason }, { gatewayAppId }] = await Promise.all([
        kind === 'app' ? this.chain.isAppAllowed(kms, info) : this.chain.isKmsAllowed(kms, info),
        this.chain.kmsSettings(kms),
      ]);
      return { verdict: { isAllowed: allowed, gatewayAppId, reason } };
    } catch (e) {
      if (e instanceof ApiError && e.code === ErrorCodes.CHAIN_UNAVAILABLE) {
        return { verdict: { isAllowed: false, gatewayAppId: '', reason: BACKEND_UNAVAILABLE }, backendError: e.message };
      }
      throw e;
    }
  }

  private configOf(kmsType: string): ChainConfig {
    const config = this.chain.chainOf(kmsType);
    if (!config) {
      const configured = this.chain.chains().map((c) => c.kmsType);
      throw notFound(ErrorCodes.KMS_NOT_FOUND,
        `No chain is configured for "${kmsType}" on this server: ` +
          (configured.length ? `use ${configured.map((t) => `/kms-auth/${t}`).join(' or ')} as dstack-kms's webhook URL.` : 'configure OPENCVM_ETHEREUM_* or OPENCVM_BASE_* first.'));
    }
    return config;
  }
}
