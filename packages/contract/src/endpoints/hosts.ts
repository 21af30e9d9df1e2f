/**
 * The host registry's admin API: the dstack-vmm hosts this server places CVMs on. Phala Cloud's API has no
 * such endpoints (its hosts are Phala's); these are opencvm's own, under `/api/v1/admin/hosts`, and need the
 * server's admin key (`X-Admin-Key`), never a workspace API key.
 */
import { z } from 'zod';
import { defineEndpoint } from '../endpoint.ts';
import { ErrorCodes as E } from '../errors.ts';
import { addHostRequestSchema, patchHostRequestSchema } from '../requests/hosts.ts';
import { drainResultSchema, hostListSchema, hostSchema } from '../shapes/hosts.ts';

const hostParams = z.object({
  host: z.string().min(1).max(63).describe("the host's id (a number) or its name"),
});
const NOT_FOUND = { 404: [E.HOST_NOT_FOUND] } as const;

export const addHost = defineEndpoint({
  id: 'addHost',
  method: 'POST',
  path: '/api/v1/admin/hosts',
  summary: 'Add a dstack-vmm host to the registry',
  description:
    "The host is asked what it is (dstack-vmm's GetMeta, ListImages, ListGpus, Version) with the auth token given; the capacity, GPUs and device id given win over what it reports, now and at each refresh. The auth token is stored sealed with the server's seal key and the KMS token as its SHA-256; neither is ever returned. A host that does not answer is not added (400 `ERR-08-004`), nor a second entry for the URL of a live host (409 `ERR-08-007`).",
  tag: 'Hosts',
  auth: 'adminKey',
  extension: true,
  body: { json: addHostRequestSchema },
  success: { status: 201, description: 'The host, as registered', json: hostSchema },
  errors: { 400: [E.HOST_UNREACHABLE], 409: [E.HOST_NAME_TAKEN, E.HOST_KMS_TOKEN_TAKEN, E.HOST_URL_TAKEN] },
});

export const listHosts = defineEndpoint({
  id: 'listHosts',
  method: 'GET',
  path: '/api/v1/admin/hosts',
  summary: 'List the hosts of the registry',
  tag: 'Hosts',
  auth: 'adminKey',
  extension: true,
  success: { status: 200, description: 'Every host not removed, by id', json: hostListSchema },
});

export const getHost = defineEndpoint({
  id: 'getHost',
  method: 'GET',
  path: '/api/v1/admin/hosts/{host}',
  summary: 'One host of the registry',
  tag: 'Hosts',
  auth: 'adminKey',
  extension: true,
  params: hostParams,
  success: { status: 200, description: 'The host', json: hostSchema },
  errors: NOT_FOUND,
});

export const patchHost = defineEndpoint({
  id: 'patchHost',
  method: 'PATCH',
  path: '/api/v1/admin/hosts/{host}',
  summary: 'Change what the operator sets of a host',
  description:
    "Only the fields given change. Capacity values, GPUs, the device id and the region given win over what the host reports (or the configuration says), now and at each refresh; a capacity value `null` drops the operator's value. A new `url` or `auth_token` is tried on the host first (GetMeta, ListImages, ListGpus, Version; 400 `ERR-08-004` if it does not answer), and what it reports is recorded. Refused with 409: a capacity below what the live CVMs there reserve (`ERR-08-008`, naming the resource and both figures), a URL another live host has (`ERR-08-007`), a KMS token another host's guests present (`ERR-08-006`). Tokens are stored sealed (auth) or hashed (KMS) and never returned.",
  tag: 'Hosts',
  auth: 'adminKey',
  extension: true,
  params: hostParams,
  body: { json: patchHostRequestSchema },
  success: { status: 200, description: 'The host, changed', json: hostSchema },
  errors: { ...NOT_FOUND, 400: [E.HOST_UNREACHABLE], 409: [E.HOST_URL_TAKEN, E.HOST_CAPACITY_IN_USE, E.HOST_KMS_TOKEN_TAKEN] },
});

export const refreshHost = defineEndpoint({
  id: 'refreshHost',
  method: 'POST',
  path: '/api/v1/admin/hosts/{host}/refresh',
  summary: 'Read what a host reports again (capacity, GPUs, images, version)',
  description: 'The operator\'s values still win. A host that does not answer is marked `offline` (placement skips it) and the answer is 400 `ERR-08-004`.',
  tag: 'Hosts',
  auth: 'adminKey',
  extension: true,
  params: hostParams,
  success: { status: 200, description: 'The host, refreshed', json: hostSchema },
  errors: { ...NOT_FOUND, 400: [E.HOST_UNREACHABLE] },
});

export const cordonHost = defineEndpoint({
  id: 'cordonHost',
  method: 'POST',
  path: '/api/v1/admin/hosts/{host}/cordon',
  summary: 'Cordon a host: no new CVMs are placed on it; those there keep running',
  tag: 'Hosts',
  auth: 'adminKey',
  extension: true,
  params: hostParams,
  success: { status: 200, description: 'The host, cordoned', json: hostSchema },
  errors: NOT_FOUND,
});

export const uncordonHost = defineEndpoint({
  id: 'uncordonHost',
  method: 'POST',
  path: '/api/v1/admin/hosts/{host}/uncordon',
  summary: 'Uncordon a host: it takes new CVMs again',
  tag: 'Hosts',
  auth: 'adminKey',
  extension: true,
  params: hostParams,
  success: { status: 200, description: 'The host, uncordoned', json: hostSchema },
  errors: NOT_FOUND,
});

export const drainHost = defineEndpoint({
  id: 'drainHost',
  method: 'POST',
  path: '/api/v1/admin/hosts/{host}/drain',
  summary: 'Drain a host: cordon it and list the CVMs that still run there',
  description: 'Moves nothing by itself: the answer lists the live CVMs on the host, which their owners delete or re-deploy elsewhere; once none is left, the host can be removed.',
  tag: 'Hosts',
  auth: 'adminKey',
  extension: true,
  params: hostParams,
  success: { status: 200, description: 'The host (cordoned) and its live CVMs', json: drainResultSchema },
  errors: NOT_FOUND,
});

export const removeHost = defineEndpoint({
  id: 'removeHost',
  method: 'DELETE',
  path: '/api/v1/admin/hosts/{host}',
  summary: 'Remove a host from the registry',
  description:
    'Refused (409 `ERR-08-003`, naming them) while live CVMs are on it. Its record stays for the history of the CVMs it ran; its name is free again and its tokens are forgotten. A host of OPENCVM_HOSTS is registered again at the next start unless it is taken out of that variable.',
  tag: 'Hosts',
  auth: 'adminKey',
  extension: true,
  params: hostParams,
  success: { status: 200, description: 'The host as removed (status `removed`, no images, no tokens)', json: hostSchema },
  errors: { ...NOT_FOUND, 409: [E.HOST_HAS_CVMS] },
});
