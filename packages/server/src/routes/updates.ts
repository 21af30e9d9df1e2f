/**
 * Configuration update routes (seeds 003, 004; contract rows 14, 17–21, 32–35, 38, 60–61). Each turns
 * its request into a change for `UpdateService.submit`; a change that needs the host answers at once
 * with the operation's `correlation_id` (`status: in_progress`), and the CVM restarts to apply it.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError, ErrorCodes, cvmDetailV2025, kmsInfo, parseOrThrow, z, commitUpdateSchema } from '@opencvm/core';
import { principal, type Services } from '../http/context.ts';
import type { PreparedResult, SubmitResult } from '../services/updates.ts';

const pageQuery = z.object({
  page: z.coerce.number().int().min(1).default(1),
  page_size: z.coerce.number().int().min(1).max(1000).default(50),
});

/** The body every "update accepted" answer has (SDK: `{status, message, correlation_id}`; envs adds `allowed_envs_changed`). */
function accepted(r: SubmitResult) {
  return { status: r.status, message: r.message, correlation_id: r.correlation_id, compose_hash: r.compose_hash, allowed_envs_changed: r.allowed_envs_changed };
}

/** 202 when something was queued or recorded; 200 when nothing changed (nothing was accepted for processing). */
const httpStatus = (r: SubmitResult) => (r.status === 'unchanged' ? 200 : 202);

/**
 * The SDK's updateCvmEnvs, updateDockerCompose and updatePreLaunchScript accept `status: "in_progress"` only
 * (or an on-chain `precondition_required`): for them an unchanged answer keeps that word, with the correlation id
 * of the operation that already succeeded and a message saying nothing changed.
 */
function acceptedInProgress(r: SubmitResult) {
  return { ...accepted(r), status: r.status === 'unchanged' ? 'in_progress' : r.status };
}

const header = (req: FastifyRequest, name: string) => {
  const v = req.headers[name];
  return (Array.isArray(v) ? v[0] : v)?.trim() || undefined;
};

/** Confirmation headers complete an on-chain KMS update; a PHALA KMS CVM never needs them. */
function rejectOnChainConfirmation(req: FastifyRequest) {
  if (header(req, 'x-compose-hash') || header(req, 'x-transaction-hash')) {
    throw new ApiError(400, ErrorCodes.INVALID_REQUEST,
      'X-Compose-Hash / X-Transaction-Hash confirm an on-chain KMS update; this server offers PHALA KMS only, whose updates are applied without confirmation. Send the change without these headers.');
  }
}

export function updateRoutes(app: FastifyInstance, s: Services): void {
  app.patch<{ Params: { id: string } }>('/cvms/:id', async (req, reply) => {
    const p = await principal(s, req);
    rejectOnChainConfirmation(req);
    const prepareOnly = header(req, 'x-prepare-only')?.toLowerCase() === 'true';
    const r = await s.updates.patch(p, req.params.id, req.body, prepareOnly);
    if ('prepared' in r) throw preparedAnswer(r, s);
    return reply.status(httpStatus(r)).send(accepted(r));
  });

  app.post<{ Params: { id: string } }>('/cvms/:id/commit-update', async (req, reply) => {
    const p = await principal(s, req);
    const body = parseOrThrow(commitUpdateSchema, req.body ?? {});
    const r = await s.updates.commitPrepared(p, req.params.id, body.token, body.compose_hash);
    return reply.status(httpStatus(r)).send(accepted(r));
  });

  app.patch<{ Params: { id: string } }>('/cvms/:id/resources', async (req, reply) => {
    const r = await s.updates.resources(await principal(s, req), req.params.id, req.body);
    return reply.status(httpStatus(r)).send(accepted(r));
  });

  app.patch<{ Params: { id: string } }>('/cvms/:id/visibility', async (req) => {
    const cvm = await s.updates.visibility(await principal(s, req), req.params.id, req.body);
    return cvmDetailV2025(cvm, { syslogEndpoint: await s.logUrls.syslogEndpoint(cvm.vm_uuid) });
  });

  app.patch<{ Params: { id: string } }>('/cvms/:id/os-image', async (req, reply) => {
    const r = await s.updates.osImage(await principal(s, req), req.params.id, req.body);
    return reply.status(httpStatus(r)).send(accepted(r));
  });

  app.get<{ Params: { id: string } }>('/cvms/:id/available-os-images', async (req) =>
    s.updates.availableOsImages(await principal(s, req), req.params.id),
  );

  app.patch<{ Params: { id: string } }>('/cvms/:id/pre-launch-script', async (req, reply) => {
    const p = await principal(s, req);
    rejectOnChainConfirmation(req);
    const r = await s.updates.preLaunchScript(p, req.params.id, req.body);
    return reply.status(httpStatus(r)).send(acceptedInProgress(r));
  });

  app.patch<{ Params: { id: string } }>('/cvms/:id/docker-compose', async (req, reply) => {
    const p = await principal(s, req);
    rejectOnChainConfirmation(req);
    const r = await s.updates.dockerCompose(p, req.params.id, req.body);
    return reply.status(httpStatus(r)).send(acceptedInProgress(r));
  });

  app.patch<{ Params: { id: string } }>('/cvms/:id/envs', async (req, reply) => {
    const p = await principal(s, req);
    const r = await s.updates.envs(p, req.params.id, req.body);
    const a = acceptedInProgress(r);
    if (r.status === 'unchanged') return reply.status(200).send(a);
    return reply.status(202).send({
      ...a,
      message: `${a.message} The sealed env was replaced as a whole: keys not in this encrypted_env are gone.`,
    });
  });

  // the deprecated `phala cvms upgrade` (contract C6): the CLI prints `detail` when there is one
  app.put<{ Params: { id: string } }>('/cvms/:id/compose', async (req, reply) => {
    const r = await s.updates.legacyUpgrade(await principal(s, req), req.params.id, req.body);
    const a = accepted(r);
    return reply.status(httpStatus(r)).send({ ...a, detail: `${a.message} (correlation_id ${a.correlation_id})` });
  });

  app.post<{ Params: { id: string } }>('/cvms/:id/compose_file/provision', async (req) =>
    s.updates.provisionCompose(await principal(s, req), req.params.id, req.body),
  );

  // seed 003 names POST …/commit; SDK 0.2.9's commitCvmComposeFileUpdate sends PATCH …/compose_file
  for (const [method, path] of [['POST', '/cvms/:id/compose_file/commit'], ['PATCH', '/cvms/:id/compose_file']] as const) {
    app.route<{ Params: { id: string } }>({
      method,
      url: path,
      handler: async (req, reply) => {
        const r = await s.updates.commitCompose(await principal(s, req), req.params.id, req.body);
        return reply.status(httpStatus(r)).send(accepted(r));
      },
    });
  }

  app.get<{ Params: { app_id: string }; Querystring: Record<string, string> }>('/apps/:app_id/revisions', async (req) => {
    const p = await principal(s, req);
    const q = parseOrThrow(pageQuery, req.query);
    return s.updates.revisions(p, req.params.app_id, q.page, q.page_size);
  });

  app.get<{ Params: { app_id: string; revision_id: string }; Querystring: { raw_compose_file?: string } }>(
    '/apps/:app_id/revisions/:revision_id',
    async (req) => s.updates.revision(await principal(s, req), req.params.app_id, req.params.revision_id, req.query.raw_compose_file === 'true'),
  );

  app.post<{ Params: { app_id: string; revision_id: string } }>('/apps/:app_id/revisions/:revision_id/rollback', async (req, reply) => {
    const r = await s.updates.rollback(await principal(s, req), req.params.app_id, req.params.revision_id, req.body);
    return reply.status(httpStatus(r)).send(accepted(r));
  });
}

/**
 * A prepare-only PATCH answers as the SDK expects a two-phase one to (contract §2.4: HTTP 465 with
 * `details`), so `patchCvm({prepareOnly})` returns `{requiresOnChainHash: true, commitToken, ...}`.
 * Nothing has changed; `POST /cvms/{id}/commit-update` with the token applies it, once, within 14 days.
 */
function preparedAnswer(r: PreparedResult, s: Services): ApiError {
  const cvm = r.cvm;
  const apiCommitUrl = `${s.publicUrl()}/api/v1/cvms/${cvm.vm_uuid}/commit-update`;
  return new ApiError(465, ErrorCodes.HASH_REGISTRATION_REQUIRED,
    `Prepared, not applied: commit it with POST /cvms/${cvm.vm_uuid}/commit-update and the commit_token before ${r.expires_at.toISOString()}. The token works once.`,
    {
      details: [
        { field: 'compose_hash', value: r.compose_hash },
        { field: 'app_id', value: cvm.app_id },
        { field: 'device_id', value: cvm.node.device_id },
        { field: 'kms_info', value: kmsInfo(cvm.kms) },
        { field: 'commit_token', value: r.commit_token },
        { field: 'commit_url', value: apiCommitUrl },
        { field: 'api_commit_url', value: apiCommitUrl },
        { field: 'expires_at', value: r.expires_at.toISOString() },
      ],
    });
}
