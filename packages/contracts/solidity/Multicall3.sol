// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// The `aggregate3` call of the Multicall3 contract that Ethereum, Base and most chains have at
/// 0xcA11bde05977b3631167028862bE2a173976CA11, which viem's `multicall` (and so the official Phala Cloud SDK's
/// device allow-list reads) sends its batched reads to. A local chain gets this code at that address.
contract Multicall3 {
    struct Call3 {
        address target;
        bool allowFailure;
        bytes callData;
    }

    struct Result {
        bool success;
        bytes returnData;
    }

    function aggregate3(Call3[] calldata calls) external payable returns (Result[] memory returnData) {
        returnData = new Result[](calls.length);
        for (uint256 i = 0; i < calls.length; i++) {
            (bool success, bytes memory data) = calls[i].target.call(calls[i].callData);
            if (!success && !calls[i].allowFailure) revert("Multicall3: call failed");
            returnData[i] = Result(success, data);
        }
    }
}
