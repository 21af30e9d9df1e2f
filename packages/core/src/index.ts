/**
 * @opencvm/core: what every other package shares and nothing does I/O in.
 * Wire schemas and response shapes (both API versions), app-compose building and its hash,
 * dstack cryptography, identifier forms, error codes.
 */
export * from './crypto.ts';
export * from './errors.ts';
export * from './validation.ts';
export * from './ids.ts';
export * from './provision.ts';
export * from './catalog.ts';
export * from './resource-limits.ts';
export * from './api-version.ts';
export * from './shapes.ts';
export * from './runtime-shapes.ts';
export * from './shapes-lists.ts';
export * from './updates.ts';
export { z } from 'zod';
