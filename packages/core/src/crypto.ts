/**
 * dstack cryptography, reproduced byte-for-byte (shared/spec/dstack-facts.md §1–§3).
 * Pure functions only (no I/O); implementations live in the modules re-exported below.
 */
export * from './hex.ts';
export * from './compose-hash.ts';
export * from './env-crypto.ts';
export * from './kms-keys.ts';
export * from './eth.ts';
