/**
 * dstack cryptography, reproduced byte-for-byte: compose hash, env encryption, KMS key derivation and signatures.
 * Pure functions only (no I/O); implementations live in the modules re-exported below.
 */
export * from './hex.ts';
export * from './compose-hash.ts';
export * from './env-crypto.ts';
export * from './kms-keys.ts';
export * from './eth.ts';
