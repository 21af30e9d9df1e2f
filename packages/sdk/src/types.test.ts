/**
 * The SDK's types are the contract's (checked by `npm run typecheck`), and its requests go to the method and
 * path the contract declares (checked here against a client that records what it would send).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  getCvm,
  type commitRequestSchema,
  type commitResultSchema,
  type composeProvisionResultSchema,
  type cvmDetailV2025Schema,
  type cvmDetailV2026Schema,
  type instanceIdRenewalSchema,
  type kmsInfoSchema,
  type provisionResultSchema,
  type revisionPageSchema,
  type revisionSchema,
  type updateAcceptedSchema,
  type z,
} from '@opencvm/contract';
import { callEndpoint } from './call.ts';
import {
  createClient,
  getCvmDetail,
  getRevision,
  listRevisions,
  OpenCvmError,
  rollbackToRevision,
  updateResources,
  type Client,
  type CommitCvmProvisionParams,
  type ComposeUpdateProvision,
  type CvmDetail,
  type CvmInfo,
  type CvmVm,
  type InstanceIdRefresh,
  type KmsInfo,
  type ProvisionCvmParams,
  type ProvisionCvmResult,
  type Revision,
  type RevisionDetail,
  type RevisionPage,
  type UpdateAccepted,
  type UpdateCvmParams,
  type WaitForStatusParams,
} from './index.ts';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const same = <A, B>(_: Equal<A, B>) => {};

// answers: exactly what the contract declares
same<CvmDetail, z.output<typeof cvmDetailV2026Schema>>(true);
same<CvmInfo<'2025-10-28'>, z.output<typeof cvmDetailV2025Schema>>(true);
same<CvmInfo, z.output<(typeof getCvm)['success']['json']['versioned']['2026-01-21']>>(true);
same<KmsInfo, z.output<typeof kmsInfoSchema>>(true);
same<UpdateAccepted, z.output<typeof updateAcceptedSchema>>(true);
same<ComposeUpdateProvision, z.output<typeof composeProvisionResultSchema>>(true);
same<Revision, z.output<typeof revisionSchema>>(true);
same<RevisionPage, z.output<typeof revisionPageSchema>>(true);
same<InstanceIdRefresh, z.output<typeof instanceIdRenewalSchema>>(true);
same<ProvisionCvmResult, z.output<typeof provisionResultSchema>>(true);
same<CvmVm, z.output<typeof commitResultSchema>>(true);
// parameters: what the request schema takes
same<CommitCvmProvisionParams, z.input<typeof commitRequestSchema>>(true);

// what the SDK adds or narrows
const typeChecks = (d: CvmDetail, raw: RevisionDetail<true>, parsed: RevisionDetail) => {
  // @ts-expect-error every key of the answer is declared
  void d.not_a_key;
  const text: string = raw.compose_file;
  const compose: Record<string, unknown> = parsed.compose_file;
  // @ts-expect-error the parsed form is not text
  const notText: string = parsed.compose_file;
  const ok: UpdateCvmParams[] = [{ id: 1, vcpu: 2, envs: [{ key: 'A', value: 'b' }] }, { id: 'x', encrypted_env: 'ab', env_keys: ['A'] }];
  // @ts-expect-error either envs (sealed here) or encrypted_env, not both
  const both: UpdateCvmParams = { id: 1, envs: [], encrypted_env: 'ab' };
  // @ts-expect-error PATCH /cvms/{id} takes no such field
  const unknown: UpdateCvmParams = { id: 1, bogus: true };
  const kms: ProvisionCvmParams = { name: 'app-one', compose_file: { docker_compose_file: 'x' }, kms: 'PHALA' };
  // @ts-expect-error a status the contract does not have
  const status: WaitForStatusParams = { id: 1, status: 'sleeping' };
  return [text, compose, notText, ok, both, unknown, kms, status];
};
void typeChecks;

/** A client that records each request and answers `{}`. */
function recorder() {
  const sent: { method: string; path: string; body: unknown; headers?: Record<string, string> }[] = [];
  const real = createClient({ baseURL: 'http://127.0.0.1:1/api/v1' });
  const client: Client = {
    ...real,
    request: async <T>(method: string, path: string, body?: unknown, opts?: { headers?: Record<string, string> }) => {
      sent.push({ method, path, body, headers: opts?.headers });
      return {} as T;
    },
  };
  return { client, sent };
}

test('requests go to the method and path the contract declares, with path values encoded', async () => {
  const { client, sent } = recorder();
  await getRevision(client, { app_id: 'ab/cd', revision_id: 'rev 1', raw_compose_file: true });
  await listRevisions(client, { app_id: 'a1', page: 2 });
  await rollbackToRevision(client, { app_id: 'a1', revision_id: 'r1' });
  await updateResources(client, { id: 7, vcpu: 2 });
  await callEndpoint(client, getCvm, { params: { id: 'my-app' }, version: '2025-10-28' });
  assert.deepEqual(
    sent.map((s) => `${s.method} ${s.path}`),
    [
      'GET /apps/ab%2Fcd/revisions/rev%201?raw_compose_file=true',
      'GET /apps/a1/revisions?page=2',
      'POST /apps/a1/revisions/r1/rollback',
      'PATCH /cvms/7/resources',
      'GET /cvms/my-app',
    ],
  );
  assert.deepEqual(sent[2].body, {});
  assert.deepEqual(sent[3].body, { vcpu: 2 });
  assert.equal(sent[4].headers?.['x-phala-version'], '2025-10-28');
});

test('a missing path value is refused before anything is sent', async () => {
  const { client, sent } = recorder();
  const e = await getCvmDetail(client, { id: '' }).catch((e: unknown) => e);
  assert.ok(e instanceof OpenCvmError);
  assert.equal(e.status, 0);
  assert.match(e.message, /id is required/);
  assert.deepEqual(sent, []);
});
