/**
 * @opencvm/contract: the wire, declared once (zod only, no I/O). Every endpoint (method, path, auth,
 * parameters, query, body, answers by status and API version, the `ERR-` codes it can return), the error
 * envelope, shared enums, what text the API accepts, and the dstack-vmm pRPC subset. The server registers
 * its routes from it, OpenAPI is generated from it, the SDK takes its types from it, and the tests check
 * every answer against it.
 */
export { z } from 'zod';
export * from './api-version.ts';
export * from './errors.ts';
export * from './validation.ts';
export * from './text.ts';
export * from './enums.ts';
export * from './events.ts';
export * from './endpoint.ts';
export * from './shapes/common.ts';
export * from './shapes/cvm.ts';
export * from './shapes/apps.ts';
export * from './shapes/catalog.ts';
export * from './shapes/runtime.ts';
export * from './shapes/deploy.ts';
export * from './shapes/updates.ts';
export * from './shapes/kms-auth.ts';
export * from './shapes/allowlists.ts';
export * from './shapes/hosts.ts';
export * from './shapes/tokens.ts';
export * from './shapes/ssh-keys.ts';
export * from './shapes/members.ts';
export * from './shapes/attestations.ts';
export * from './shapes/cvm-attestation.ts';
export * from './shapes/webhooks.ts';
export * from './shapes/events.ts';
export * from './shapes/cvm-ops.ts';
export * from './requests/deploy.ts';
export * from './requests/updates.ts';
export * from './requests/lifecycle.ts';
export * from './requests/reads.ts';
export * from './requests/instance-ids.ts';
export * from './requests/logs.ts';
export * from './requests/kms-auth.ts';
export * from './requests/allowlists.ts';
export * from './requests/hosts.ts';
export * from './requests/tokens.ts';
export * from './requests/ssh-keys.ts';
export * from './requests/members.ts';
export * from './requests/attestations.ts';
export * from './requests/webhooks.ts';
export * from './requests/events.ts';
export * from './requests/cvm-ops.ts';
export * from './endpoints/index.ts';
export * from './openapi.ts';
export * as prpc from './prpc.ts';
