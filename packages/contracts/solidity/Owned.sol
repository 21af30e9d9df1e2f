// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// An owner and the owner-only guard, with the errors and events of OpenZeppelin's Ownable, so that clients
/// decoding those (the official Phala Cloud SDK does) read ours the same way. `transferOwnership` hands over at
/// once; `TwoStepOwned` makes the new owner accept first.
abstract contract Owned {
    address private _owner;

    error OwnableUnauthorizedAccount(address account);
    error OwnableInvalidOwner(address owner);

    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);

    modifier onlyOwner() {
        if (msg.sender != _owner) revert OwnableUnauthorizedAccount(msg.sender);
        _;
    }

    function owner() public view returns (address) {
        return _owner;
    }

    function transferOwnership(address newOwner) public virtual onlyOwner {
        if (newOwner == address(0)) revert OwnableInvalidOwner(address(0));
        _setOwner(newOwner);
    }

    function renounceOwnership() public virtual onlyOwner {
        _setOwner(address(0));
    }

    function _initOwner(address initialOwner) internal {
        if (initialOwner == address(0)) revert OwnableInvalidOwner(address(0));
        _setOwner(initialOwner);
    }

    function _setOwner(address newOwner) internal virtual {
        address previous = _owner;
        _owner = newOwner;
        emit OwnershipTransferred(previous, newOwner);
    }
}

/// OpenZeppelin's Ownable2Step behaviour: `transferOwnership` names a pending owner, who takes over by calling
/// `acceptOwnership`.
abstract contract TwoStepOwned is Owned {
    address private _pendingOwner;

    event OwnershipTransferStarted(address indexed previousOwner, address indexed newOwner);

    function pendingOwner() public view returns (address) {
        return _pendingOwner;
    }

    function transferOwnership(address newOwner) public override onlyOwner {
        _pendingOwner = newOwner;
        emit OwnershipTransferStarted(owner(), newOwner);
    }

    function acceptOwnership() external {
        if (msg.sender != _pendingOwner) revert OwnableUnauthorizedAccount(msg.sender);
        _setOwner(msg.sender);
    }

    function _setOwner(address newOwner) internal override {
        delete _pendingOwner;
        super._setOwner(newOwner);
    }
}
