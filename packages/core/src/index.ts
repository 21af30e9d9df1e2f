/**
 * @opencvm/core: the pure domain, no I/O. App-compose building and its hash, dstack cryptography, identifier
 * forms, planning a configuration change, and the builders of the API's answers (typed by the contract).
 * The wire itself (errors, request and answer schemas, endpoints) is @opencvm/contract's, re-exported here.
 */
export * from '@opencvm/contract';
export * from './crypto.ts';
export * from './ids.ts';
export * from './provision.ts';
export * from './catalog.ts';
export * from './resource-limits.ts';
export * from './shapes.ts';
export * from './runtime-shapes.ts';
export * from './shapes-lists.ts';
export * from './updates.ts';
export * from './ssh-keys.ts';
export * from './der.ts';
export * from './attestation.ts';
export * from './attestation-shapes.ts';
