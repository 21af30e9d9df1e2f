// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {AppBootInfo, IAppAuth, IAppAuthBasicManagement, IERC165} from "./IAppAuth.sol";
import {TwoStepOwned} from "./Owned.sol";

/// One app's boot policy: which compose hashes may boot, on which devices, and whether the TCB must be up to date.
/// ABI-compatible with dstack's DstackApp (`kms/auth-eth/contracts`) for everything dstack's KMS, the official
/// Phala Cloud SDK and the `phala` CLI call. The KMS contract deploys each app as a minimal clone (EIP-1167) of
/// one AppAuth and calls `initialize` in the same transaction; the app's id is the clone's address.
/// Clones cannot be upgraded: `disableUpgrades` is kept for ABI compatibility and records the owner's choice.
contract AppAuth is IAppAuth, IAppAuthBasicManagement, IERC165, TwoStepOwned {
    bytes32 private constant POLICY_COMPOSE_HASH = keccak256("compose-hash");
    bytes32 private constant POLICY_DEVICE = keccak256("device");
    bytes32 private constant POLICY_ALLOW_ANY_DEVICE = keccak256("allow-any-device");
    bytes32 private constant POLICY_REQUIRE_TCB_UP_TO_DATE = keccak256("require-tcb-up-to-date");
    bytes32 private constant POLICY_UPGRADES_DISABLED = keccak256("upgrades-disabled");

    mapping(bytes32 => bool) public allowedComposeHashes;
    mapping(bytes32 => bool) public allowedDeviceIds;
    bool public allowAnyDevice;
    bool public requireTcbUpToDate;
    bool private _upgradesDisabled;
    bool private _initialized;

    event UpgradesDisabled();
    event AllowAnyDeviceSet(bool allowAny);
    event RequireTcbUpToDateSet(bool requireUpToDate);
    event PolicyChanged(address indexed actor, bytes32 indexed policy, bytes32 indexed value, bool enabled);

    error InvalidInitialization();

    /// The implementation itself is never initialised: only its clones are.
    constructor() {
        _initialized = true;
    }

    function initialize(
        address initialOwner,
        bool disableUpgrades_,
        bool allowAnyDevice_,
        bytes32 initialDeviceId,
        bytes32 initialComposeHash
    ) external {
        _initialize(initialOwner, disableUpgrades_, false, allowAnyDevice_, initialDeviceId, initialComposeHash);
    }

    function initialize(
        address initialOwner,
        bool disableUpgrades_,
        bool requireTcbUpToDate_,
        bool allowAnyDevice_,
        bytes32 initialDeviceId,
        bytes32 initialComposeHash
    ) external {
        _initialize(initialOwner, disableUpgrades_, requireTcbUpToDate_, allowAnyDevice_, initialDeviceId, initialComposeHash);
    }

    /// A zero device id or compose hash means "none to add".
    function _initialize(
        address initialOwner,
        bool disableUpgrades_,
        bool requireTcbUpToDate_,
        bool allowAnyDevice_,
        bytes32 initialDeviceId,
        bytes32 initialComposeHash
    ) private {
        if (_initialized) revert InvalidInitialization();
        _initialized = true;
        _initOwner(initialOwner);
        _upgradesDisabled = disableUpgrades_;
        requireTcbUpToDate = requireTcbUpToDate_;
        allowAnyDevice = allowAnyDevice_;
        if (initialDeviceId != bytes32(0)) _setDevice(initialDeviceId, true);
        if (initialComposeHash != bytes32(0)) _setComposeHash(initialComposeHash, true);
    }

    function version() external pure returns (uint256) {
        return 2;
    }

    function supportsInterface(bytes4 interfaceId) external pure returns (bool) {
        return interfaceId == 0x01ffc9a7 // ERC-165
            || interfaceId == 0x1e079198 // IAppAuth
            || interfaceId == 0x8fd37527; // IAppAuthBasicManagement
    }

    function addComposeHash(bytes32 composeHash) external onlyOwner {
        _setComposeHash(composeHash, true);
    }

    function removeComposeHash(bytes32 composeHash) external onlyOwner {
        _setComposeHash(composeHash, false);
    }

    function addDevice(bytes32 deviceId) external onlyOwner {
        _setDevice(deviceId, true);
    }

    function removeDevice(bytes32 deviceId) external onlyOwner {
        _setDevice(deviceId, false);
    }

    function setAllowAnyDevice(bool allowAny) external onlyOwner {
        allowAnyDevice = allowAny;
        emit AllowAnyDeviceSet(allowAny);
        emit PolicyChanged(msg.sender, POLICY_ALLOW_ANY_DEVICE, bytes32(0), allowAny);
    }

    function setRequireTcbUpToDate(bool requireUpToDate) external onlyOwner {
        requireTcbUpToDate = requireUpToDate;
        emit RequireTcbUpToDateSet(requireUpToDate);
        emit PolicyChanged(msg.sender, POLICY_REQUIRE_TCB_UP_TO_DATE, bytes32(0), requireUpToDate);
    }

    /// One way: there is no call that turns upgrades back on.
    function disableUpgrades() external onlyOwner {
        _upgradesDisabled = true;
        emit UpgradesDisabled();
        emit PolicyChanged(msg.sender, POLICY_UPGRADES_DISABLED, bytes32(0), true);
    }

    /// dstack's order: TCB (if required), then the compose hash, then the device (unless any device is allowed).
    function isAppAllowed(AppBootInfo calldata bootInfo) external view returns (bool isAllowed, string memory reason) {
        if (requireTcbUpToDate && keccak256(bytes(bootInfo.tcbStatus)) != keccak256("UpToDate")) {
            return (false, "TCB status is not up to date");
        }
        if (!allowedComposeHashes[bootInfo.composeHash]) return (false, "Compose hash not allowed");
        if (!allowAnyDevice && !allowedDeviceIds[bootInfo.deviceId]) return (false, "Device not allowed");
        return (true, "");
    }

    function _setComposeHash(bytes32 composeHash, bool allowed) private {
        allowedComposeHashes[composeHash] = allowed;
        if (allowed) emit ComposeHashAdded(composeHash);
        else emit ComposeHashRemoved(composeHash);
        emit PolicyChanged(msg.sender, POLICY_COMPOSE_HASH, composeHash, allowed);
    }

    function _setDevice(bytes32 deviceId, bool allowed) private {
        allowedDeviceIds[deviceId] = allowed;
        if (allowed) emit DeviceAdded(deviceId);
        else emit DeviceRemoved(deviceId);
        emit PolicyChanged(msg.sender, POLICY_DEVICE, deviceId, allowed);
    }
}
