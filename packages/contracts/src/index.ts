/**
 * @opencvm/contracts: our Solidity KMS and AppAuth contracts (ABI-compatible with dstack's DstackKms and
 * DstackApp), their compiled ABIs and bytecode, a local anvil chain and the KMS deployment.
 */
export { appAuthAbi, appAuthBytecode, appAuthDeployedBytecode, compiler, kmsAuthAbi, kmsAuthBytecode, kmsAuthDeployedBytecode } from './artifacts.ts';
export { anvilBinary, startChain, type ChainAccount, type ChainOptions, type LocalChain } from './chain.ts';
export { chainAt, deployKms, nextAppId, type DeployedKms, type DeployKmsOptions } from './deploy.ts';
export { bootInfo, type AppBootInfo } from './boot-info.ts';
export { quietly } from './quietly.ts';
