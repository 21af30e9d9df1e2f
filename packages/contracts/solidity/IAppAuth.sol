// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// What a KMS knows about a booting app, as dstack's KMS passes it to the chain
/// (dstack `kms/auth-eth`: the attested boot measurements plus the TCB verdict).
struct AppBootInfo {
    address appId;
    bytes32 composeHash;
    address instanceId;
    bytes32 deviceId;
    bytes32 mrAggregated;
    bytes32 mrSystem;
    bytes32 osImageHash;
    string tcbStatus;
    string[] advisoryIds;
}

/// ERC-165 interface id 0x1e079198 (dstack's IAppAuth).
interface IAppAuth {
    function isAppAllowed(AppBootInfo calldata bootInfo) external view returns (bool isAllowed, string memory reason);
}

/// ERC-165 interface id 0x8fd37527 (dstack's IAppAuthBasicManagement).
interface IAppAuthBasicManagement {
    event ComposeHashAdded(bytes32 composeHash);
    event ComposeHashRemoved(bytes32 composeHash);
    event DeviceAdded(bytes32 deviceId);
    event DeviceRemoved(bytes32 deviceId);

    function addComposeHash(bytes32 composeHash) external;
    function removeComposeHash(bytes32 composeHash) external;
    function addDevice(bytes32 deviceId) external;
    function removeDevice(bytes32 deviceId) external;
}

/// ERC-165 itself (interface id 0x01ffc9a7).
interface IERC165 {
    function supportsInterface(bytes4 interfaceId) external view returns (bool);
}
