/** dstack's AppBootInfo, the argument of `isAppAllowed` / `isKmsAllowed` on both contracts. */
import { zeroAddress, zeroHash, type Address, type Hex } from 'viem';

export interface AppBootInfo {
  appId: Address;
  composeHash: Hex;
  /** 20 bytes; zero when the boot has no instance id. */
  instanceId: Address;
  deviceId: Hex;
  mrAggregated: Hex;
  mrSystem: Hex;
  osImageHash: Hex;
  tcbStatus: string;
  advisoryIds: readonly string[];
}

/** A boot info with the fields not given zero, the TCB `UpToDate` and no advisory. */
export function bootInfo(fields: Partial<AppBootInfo> & Pick<AppBootInfo, 'appId'>): AppBootInfo {
  return {
    composeHash: zeroHash,
    instanceId: zeroAddress,
    deviceId: zeroHash,
    mrAggregated: zeroHash,
    mrSystem: zeroHash,
    osImageHash: zeroHash,
    tcbStatus: 'UpToDate',
    advisoryIds: [],
    ...fields,
  };
}
