/**
 * The Phala Cloud API routes of this slice, under /api/v1. Each route parses, authorises, calls one
 * service function and maps the result to the shape the client contract gives for its API version.
 */
import type { FastifyInstance } from 'fastify';
import {
  ErrorCodes,
  badRequest,
  commitShape,
  cvmDetailV2025,
  cvmInfoV2026,
  kmsInfo,
  normalizeAppId,
  parseOrThrow,
  z,
} from '@opencvm/core';
import { principal, versionOf, type Services } from '../http/context.ts';

const boolQuery = z
  .enum(['true', 'false', '1', '0'], { error: 'must be true or false' })
  .transform((v) => v === 'true' || v === '1')
  .optional();

const pageQuery = z.object({
  page: z.coerce.number({ error: 'page must be a number' }).int().min(1, 'page starts at 1').default(1),
  page_size: z.coerce.number({ error: 'page_size must be a number' }).int().min(1).max(100, 'page_size is at most 100').default(30),
});

export function apiRoutes(app: FastifyInstance, s: Services): void {
  app.get('/auth/me', async (req) => {
    const p = await principal(s, req);
    if (versionOf(req) === '2025-10-28') {
      return { username: p.username, email: p.email, credits: 0, granted_credits: 0, avatar: '', team_name: p.workspaceName, team_tier: p.workspaceTier };
    }
    return {
      user: {
        username: p.username,
        email: p.email,
        role: p.role === 'admin' ? 'admin' : 'user',
        avatar: '',
        email_verified: true,
        totp_enabled: false,
        has_backup_codes: false,
        flag_has_password: false,
      },
      workspace: { id: String(p.workspaceId), name: p.workspaceName, slug: p.workspaceSlug, tier: p.workspaceTier, role: 'owner', avatar: null },
      credits: { balance: 0, granted_balance: 0, is_post_paid: true, outstanding_amount: null },
    };
  });

  app.post('/cvms/provision', async (req) => s.deploy.provision(await principal(s, req), req.body));

  app.post('/cvms', async (req) => commitShape(await s.deploy.commit(await principal(s, req), req.body)));

  app.get<{ Params: { id: string } }>('/cvms/:id', async (req) => {
    const cvm = await s.cvms.get(await principal(s, req), req.params.id);
    if (versionOf(req) === '2025-10-28') return cvmDetailV2025(cvm, { syslogEndpoint: await s.logUrls.syslogEndpoint(cvm.vm_uuid) });
    return {
      ...cvmInfoV2026(cvm, true),
      // not in the SDK schema (it strips them), but what a person debugging a boot needs to see
      boot_progress: cvm.boot_progress,
      boot_error: cvm.boot_error,
    };
  });

  app.get('/instance-types', async (req) => {
    await principal(s, req);
    return s.catalog.instanceTypeFamilies();
  });

  app.get<{ Params: { family: string } }>('/instance-types/:family', async (req) => {
    await principal(s, req);
    return s.catalog.instanceTypeFamily(req.params.family);
  });

  app.get('/os-images', async (req) => {
    await principal(s, req);
    const q = parseOrThrow(pageQuery.extend({ is_dev: boolQuery }), req.query);
    return s.catalog.osImages(q.is_dev, { page: q.page, pageSize: q.page_size });
  });

  app.get('/kms', async (req) => {
    await principal(s, req);
    const q = parseOrThrow(pageQuery.extend({ is_onchain: boolQuery }), req.query);
    return s.catalog.kmsList(q.is_onchain, { page: q.page, pageSize: q.page_size });
  });

  app.get<{ Params: { kms: string } }>('/kms/:kms', async (req) => {
    await principal(s, req);
    return kmsInfo(await s.catalog.kms(req.params.kms));
  });

  app.get<{ Params: { kms: string; app_id: string } }>('/kms/:kms/pubkey/:app_id', async (req) => {
    await principal(s, req);
    const kms = await s.catalog.kms(req.params.kms);
    const appId = normalizeAppId(req.params.app_id);
    if (!appId) throw badRequest(ErrorCodes.INVALID_REQUEST, `"${req.params.app_id}" is not an app id: use 40 hex characters, optionally with 0x.`);
    if (kms.kms_type !== 'phala') {
      throw badRequest(ErrorCodes.KMS_NOT_FOUND, `KMS "${kms.id}" is an on-chain KMS whose keys this server does not hold.`);
    }
    return s.kms.signedEnvPublicKey(appId);
  });
}
