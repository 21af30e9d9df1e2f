/**
 * A CVM's logs, outside /api/v1: the signed, key-less URLs the API hands out (`syslog_endpoint` of the
 * 2025-10-28 detail, each container's `log_endpoint`), which the `phala` CLI fetches with a plain request.
 * The token in the URL is the authority.
 */
import { defineEndpoint, type Endpoint } from '../endpoint.ts';
import { ErrorCodes as E } from '../errors.ts';
import { containerLogQuerySchema, syslogQuerySchema } from '../requests/logs.ts';
import { containerParams } from './params.ts';

const logs = {
  method: 'GET',
  tag: 'Logs',
  auth: 'logToken',
  rateLimit: 'clientIp',
  extension: true,
  errors: {
    400: [E.INVALID_REQUEST],
    401: [E.CVM_ACCESS_DENIED],
    403: [E.CVM_ACCESS_DENIED],
    404: [E.CVM_NOT_FOUND],
    409: [E.CVM_INVALID_STATE],
    502: [E.TEEPOD_NOT_ACCESSIBLE],
  },
} as const satisfies Partial<Endpoint>;

export const getSyslog = defineEndpoint({
  ...logs,
  id: 'getSyslog',
  path: '/logs/syslog',
  summary: "A VM's serial console or its stdout/stderr, as the host keeps them (`follow` streams)",
  query: syslogQuerySchema,
  success: { status: 200, description: 'The log', media: [{ type: 'text/plain', description: 'log lines' }] },
});

export const getContainerLog = defineEndpoint({
  ...logs,
  id: 'getContainerLog',
  path: '/logs/container/{name}',
  summary: "One container's output: JSON lines {channel, message} (base64, or text with `text`), or bare lines with `bare`",
  params: containerParams,
  query: containerLogQuerySchema,
  success: {
    status: 200,
    description: 'The log',
    media: [
      { type: 'application/x-ndjson', description: 'JSON lines' },
      { type: 'text/plain', description: 'bare lines' },
    ],
  },
});
