// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {AppBootInfo, IAppAuth, IERC165} from "./IAppAuth.sol";
import {AppAuth} from "./AppAuth.sol";
import {Owned} from "./Owned.sol";

/// One KMS cluster on a chain: its public keys, the apps registered with it, the OS images and KMS measurements it
/// accepts, and the factory that deploys an app's AppAuth and registers it in one transaction.
/// ABI-compatible with dstack's DstackKms (`kms/auth-eth/contracts`) for everything dstack's KMS, the official
/// Phala Cloud SDK and the `phala` CLI call.
///
/// App ids: `deployAndRegisterApp` creates the app contract with CREATE from this contract, so the next app id is
/// the CREATE address of this contract at its current account nonce (1 + the apps it has deployed).
contract KmsAuth is IAppAuth, IERC165, Owned {
    struct KmsInfo {
        bytes k256Pubkey;
        bytes caPubkey;
        bytes quote;
        bytes eventlog;
    }

    KmsInfo public kmsInfo;
    string public gatewayAppId;
    mapping(address => bool) public registeredApps;
    mapping(bytes32 => bool) public kmsAllowedAggregatedMrs;
    mapping(bytes32 => bool) public kmsAllowedDeviceIds;
    mapping(bytes32 => bool) public allowedOsImages;
    /// The AppAuth every app deployed here is a clone of.
    address public appImplementation;

    event AppRegistered(address appId);
    event AppDeployedViaFactory(address indexed appId, address indexed deployer);
    event KmsInfoSet(bytes k256Pubkey);
    event GatewayAppIdSet(string gatewayAppId);
    event AppImplementationSet(address implementation);
    event KmsAggregatedMrAdded(bytes32 mrAggregated);
    event KmsAggregatedMrRemoved(bytes32 mrAggregated);
    event KmsDeviceAdded(bytes32 deviceId);
    event KmsDeviceRemoved(bytes32 deviceId);
    event OsImageHashAdded(bytes32 osImageHash);
    event OsImageHashRemoved(bytes32 osImageHash);

    /// `appImplementation_` zero: this contract deploys an AppAuth of its own to clone.
    constructor(address initialOwner, address appImplementation_) {
        _initOwner(initialOwner);
        _setAppImplementation(appImplementation_ == address(0) ? address(new AppAuth()) : appImplementation_);
    }

    function supportsInterface(bytes4 interfaceId) external pure returns (bool) {
        return interfaceId == 0x01ffc9a7 // ERC-165
            || interfaceId == 0x1e079198; // IAppAuth
    }

    function setKmsInfo(KmsInfo calldata info) external onlyOwner {
        kmsInfo = info;
        emit KmsInfoSet(info.k256Pubkey);
    }

    function setKmsQuote(bytes calldata quote) external onlyOwner {
        kmsInfo.quote = quote;
    }

    function setKmsEventlog(bytes calldata eventlog) external onlyOwner {
        kmsInfo.eventlog = eventlog;
    }

    function setGatewayAppId(string calldata appId) external onlyOwner {
        gatewayAppId = appId;
        emit GatewayAppIdSet(appId);
    }

    function setAppImplementation(address implementation) external onlyOwner {
        _setAppImplementation(implementation);
    }

    /// Anyone may register an app id (an app contract deployed elsewhere); booting still needs the app's own policy.
    function registerApp(address appId) public {
        require(appId != address(0), "Invalid app ID");
        registeredApps[appId] = true;
        emit AppRegistered(appId);
    }

    /// The form the official Phala Cloud SDK (`deployAppAuth`) calls: no TCB requirement.
    function deployAndRegisterApp(
        address initialOwner,
        bool disableUpgrades,
        bool allowAnyDevice,
        bytes32 initialDeviceId,
        bytes32 initialComposeHash
    ) external returns (address appId) {
        return deployAndRegisterApp(initialOwner, disableUpgrades, false, allowAnyDevice, initialDeviceId, initialComposeHash);
    }

    function deployAndRegisterApp(
        address initialOwner,
        bool disableUpgrades,
        bool requireTcbUpToDate,
        bool allowAnyDevice,
        bytes32 initialDeviceId,
        bytes32 initialComposeHash
    ) public returns (address appId) {
        require(initialOwner != address(0), "Invalid owner address");
        appId = _clone(appImplementation);
        AppAuth(appId).initialize(
            initialOwner, disableUpgrades, requireTcbUpToDate, allowAnyDevice, initialDeviceId, initialComposeHash
        );
        registerApp(appId);
        emit AppDeployedViaFactory(appId, msg.sender);
    }

    function addKmsAggregatedMr(bytes32 mrAggregated) external onlyOwner {
        kmsAllowedAggregatedMrs[mrAggregated] = true;
        emit KmsAggregatedMrAdded(mrAggregated);
    }

    function removeKmsAggregatedMr(bytes32 mrAggregated) external onlyOwner {
        kmsAllowedAggregatedMrs[mrAggregated] = false;
        emit KmsAggregatedMrRemoved(mrAggregated);
    }

    function addKmsDevice(bytes32 deviceId) external onlyOwner {
        kmsAllowedDeviceIds[deviceId] = true;
        emit KmsDeviceAdded(deviceId);
    }

    function removeKmsDevice(bytes32 deviceId) external onlyOwner {
        kmsAllowedDeviceIds[deviceId] = false;
        emit KmsDeviceRemoved(deviceId);
    }

    function addOsImageHash(bytes32 osImageHash) external onlyOwner {
        allowedOsImages[osImageHash] = true;
        emit OsImageHashAdded(osImageHash);
    }

    function removeOsImageHash(bytes32 osImageHash) external onlyOwner {
        allowedOsImages[osImageHash] = false;
        emit OsImageHashRemoved(osImageHash);
    }

    /// dstack's order: registered, OS image allowed, a contract at the app id, then the app's own answer unchanged.
    function isAppAllowed(AppBootInfo calldata bootInfo) external view returns (bool isAllowed, string memory reason) {
        if (!registeredApps[bootInfo.appId]) return (false, "App not registered");
        if (!allowedOsImages[bootInfo.osImageHash]) return (false, "OS image is not allowed");
        if (bootInfo.appId.code.length == 0) return (false, "App not deployed or invalid address");
        return IAppAuth(bootInfo.appId).isAppAllowed(bootInfo);
    }

    /// A KMS instance may boot only up to date, on an allowed OS image, measurement and device (no "any device").
    function isKmsAllowed(AppBootInfo calldata bootInfo) external view returns (bool isAllowed, string memory reason) {
        if (keccak256(bytes(bootInfo.tcbStatus)) != keccak256("UpToDate")) return (false, "TCB status is not up to date");
        if (!allowedOsImages[bootInfo.osImageHash]) return (false, "OS image is not allowed");
        if (!kmsAllowedAggregatedMrs[bootInfo.mrAggregated]) return (false, "Aggregated MR not allowed");
        if (!kmsAllowedDeviceIds[bootInfo.deviceId]) return (false, "KMS is not allowed to boot on this device");
        return (true, "");
    }

    function _setAppImplementation(address implementation) private {
        require(implementation.code.length > 0, "Invalid implementation address");
        appImplementation = implementation;
        emit AppImplementationSet(implementation);
    }

    /// EIP-1167 minimal proxy: runtime code that DELEGATECALLs every call to `implementation`.
    function _clone(address implementation) private returns (address instance) {
        bytes memory code = abi.encodePacked(
            hex"3d602d80600a3d3981f3363d3d373d3d3d363d73", implementation, hex"5af43d82803e903d91602b57fd5bf3"
        );
        assembly {
            instance := create(0, add(code, 0x20), mload(code))
        }
        require(instance != address(0), "App deployment failed");
    }
}
