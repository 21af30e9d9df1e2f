/**
 * Workspace isolation, swept over the contract: two workspaces (alpha and bravo), each with its own API key, on
 * one real server and simulated host. Every endpoint the contract declares (`endpoints` of
 * `@opencvm/contract`, so an endpoint added later is swept too) whose path names something a workspace owns is
 * called with bravo's key for every id form of alpha's thing, with a body that would otherwise be valid: each
 * answer is 404 in the error envelope. Where the path has two such parameters, bravo's own parent with alpha's
 * child is tried too (bravo's app with alpha's revision, bravo's CVM with alpha's operation, ...). Endpoints
 * without such a parameter are read with bravo's key (and the writes that take ids in their body are sent
 * alpha's ids): no answer names anything of alpha's. Around the whole sweep, alpha's state (every table of
 * the database, and alpha's own reads through the API) is the same before and after, and the simulated host
 * received no call about alpha's VM.
 *
 * A parameter or endpoint this suite does not know fails the first test: give it alpha's thing in
 * `ownedParams` (and bravo's), or name it in `globalParams` / `exempt` with the reason. A revoked token's 401
 * at its next request is `tokens.test.ts`'s.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as phala from '@phala/cloud';
import { createClient, ResourceError } from '@phala/cloud';
import { endpoints, type Endpoint } from '@opencvm/contract';
import { startTestEnv, type TestEnv } from './testing/harness.ts';
import { envelopeProblem } from './testing/envelope.ts';
import { waitFor } from './testing/wait.ts';

const COMPOSE = `services:
  web:
    image: nginx:latest
    environment:
      - GREETING=\${GREETING}
`;
const COMPOSE_2 = `services:
  web:
    image: nginx:1.27
`;
const ED25519_A = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGVt3pYWqWfNqTp1Mnia0USr+3nl2xBwEP8qMteYF+gn alpha@sweep';

let env: TestEnv;
/** everything of one workspace the sweep points at */
interface Owned {
  key: string;
  slug: string;
  userId: string;
  cvm: { id: number; name: string; vm_uuid: string; app_id: string; instance_id: string; compose_hash: string };
  revisionIds: string[];
  correlationIds: string[];
  tokenId: string;
  sshKeyId: string;
  invitationId: string;
  webhookId: string;
  /** an event one of its webhook's deliveries carries */
  eventId: string;
}
let alpha: Owned;
let bravo: Owned;
/** alpha's things that are not a CVM's ids: a provision not committed, prepared updates */
let alphaPending: { provisionAppId: string; provisionHash: string; commitToken: string; preparedHash: string; composeFileHash: string; osImage: string };

interface Answer {
  status: number;
  contentType: string | null;
  body: string;
}

async function http(key: string, method: string, path: string, opts: { json?: unknown; text?: string; textType?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
  const headers: Record<string, string> = { 'X-API-Key': key, ...opts.headers };
  let body: string | undefined;
  if (opts.json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(opts.json);
  } else if (opts.text !== undefined) {
    headers['Content-Type'] = opts.textType ?? 'text/plain';
    body = opts.text;
  }
  const url = path.startsWith('/api/') ? `${env.server.url}${path}` : `${env.apiUrl}${path}`;
  const res = await fetch(url, { method, headers, body, signal: AbortSignal.timeout(15_000) });
  return { status: res.status, contentType: res.headers.get('content-type'), body: await res.text() };
}

async function json<T = any>(key: string, method: string, path: string, body?: unknown): Promise<T> {
  const a = await http(key, method, path, body === undefined ? {} : { json: body });
  assert.ok(a.status < 300, `${method} ${path} → ${a.status}: ${a.body.slice(0, 300)}`);
  return (a.body ? JSON.parse(a.body) : undefined) as T;
}

const sdk = (key: string) => createClient({ apiKey: key, baseURL: env.apiUrl });
type Client = ReturnType<typeof sdk>;

async function deployOwned(key: string, slug: string, name: string, sshKey?: string): Promise<Owned> {
  const me = await json(key, 'GET', '/auth/me');
  if (sshKey) await sdk(key).createSshKey({ name: `${slug}-laptop`, public_key: sshKey });
  const c = sdk(key);
  const p = await c.provisionCvm({ name, compose_file: { docker_compose_file: COMPOSE, allowed_envs: ['GREETING'] } });
  const vm = await c.commitCvmProvision({ app_id: p.app_id!, compose_hash: p.compose_hash });
  const info = await waitFor(async () => {
    const i = await c.getCvmInfo({ id: vm.vm_uuid! });
    return i.status === 'running' && !i.progress && i.instance_id ? i : null;
  }, 20_000);
  const created = await json(key, 'POST', '/tokens', { name: `${slug}-ci` });
  const keys = await json<{ id: string }[]>(key, 'GET', '/user/ssh-keys');
  const sshKeyId = keys[0]?.id ?? 'sshkey_none';
  const revisions = await json<{ revisions: { revision_id: string }[] }>(key, 'GET', `/apps/${p.app_id}/revisions`);
  const ops = await json<{ items: { correlation_id: string }[] }>(key, 'GET', `/cvms/${vm.vm_uuid}/operations`);
  const invitation = await json<{ id: number }>(key, 'POST', `/workspaces/${slug}/invitations`, { email: `guest@${slug}.example`, role: 'MEMBER' });
  return {
    key,
    slug,
    userId: String(me.user.id),
    cvm: { id: Number(vm.id), name, vm_uuid: vm.vm_uuid!, app_id: p.app_id!.replace(/^app_/, ''), instance_id: info.instance_id!, compose_hash: p.compose_hash },
    revisionIds: revisions.revisions.map((r) => r.revision_id),
    correlationIds: ops.items.map((o) => o.correlation_id),
    tokenId: String(created.id),
    sshKeyId,
    invitationId: String(invitation.id),
    ...(await webhookOwned(key)),
  };
}

/** A webhook of the workspace and the event of its test delivery. */
async function webhookOwned(key: string): Promise<{ webhookId: string; eventId: string }> {
  const w = await json<{ id: string }>(key, 'POST', '/workspace/webhooks', { url: 'http://127.0.0.1:9/sweep', events: ['*'] });
  const t = await json<{ event_id: string }>(key, 'POST', `/workspace/webhooks/${w.id}/test`);
  // disabled: its delivery (to a closed port) is not retried while the sweep compares the tables
  await json(key, 'PUT', `/workspace/webhooks/${w.id}`, { enabled: false });
  return { webhookId: w.id, eventId: t.event_id };
}

before(async () => {
  delete process.env.PHALA_CLOUD_API_KEY;
  env = await startTestEnv();
  const a = await env.server.services.auth.createWorkspace('alpha-sweep');
  const b = await env.server.services.auth.createWorkspace('bravo-sweep');
  [alpha, bravo] = await Promise.all([
    deployOwned(a.apiKey, 'alpha-sweep', 'alpha-owned-cvm', ED25519_A),
    deployOwned(b.apiKey, 'bravo-sweep', 'bravo-owned-cvm'),
  ]);
  // the same key line on bravo's user (fingerprints are unique per user, not across users)
  bravo.sshKeyId = (await json(b.apiKey, 'POST', '/user/ssh-keys', { name: 'bravo-laptop', public_key: ED25519_A.replace('alpha@sweep', 'bravo@sweep') })).id;

  // alpha's things in waiting: a provision not committed, a prepared (prepare-only) change, a compose-file provision
  const c = sdk(alpha.key);
  const p = await c.provisionCvm({ name: 'alpha-pending-cvm', compose_file: { docker_compose_file: COMPOSE } });
  const prepared = await http(alpha.key, 'PATCH', `/cvms/${alpha.cvm.vm_uuid}`, { json: { docker_compose_file: COMPOSE_2 }, headers: { 'X-Prepare-Only': 'true' } });
  assert.equal(prepared.status, 465, prepared.body);
  const details = JSON.parse(prepared.body).detail.details as { field?: string; value?: unknown }[];
  const detailOf = (field: string) => String(details.find((d) => d.field === field)?.value ?? '');
  const commitToken = detailOf('commit_token');
  const preparedHash = detailOf('compose_hash');
  assert.ok(commitToken && preparedHash, `the prepare-only answer carries a commit token and a compose hash: ${prepared.body}`);
  const cf = await json(alpha.key, 'POST', `/cvms/${alpha.cvm.vm_uuid}/compose_file/provision`, { docker_compose_file: `${COMPOSE_2}    restart: always\n` });
  const images = await json<{ prod?: { name: string; is_current?: boolean } | null; dev?: { name: string; is_current?: boolean } | null }[]>(
    alpha.key, 'GET', `/cvms/${alpha.cvm.vm_uuid}/available-os-images`);
  const osImage = images.flatMap((i) => [i.prod, i.dev]).find((i) => i && !i.is_current)?.name ?? images.flatMap((i) => [i.prod, i.dev]).find((i) => i)!.name;
  alphaPending = { provisionAppId: p.app_id!.replace(/^app_/, ''), provisionHash: p.compose_hash, commitToken, preparedHash, composeFileHash: cf.compose_hash, osImage };
});
after(async () => {
  await env?.close();
});

// ---------------------------------------------------------------------------------------------
// what each path parameter names

type Forms = (o: Owned) => { label: string; value: string }[];

/** Path parameters naming something a workspace owns: every form of it (alpha's thing in the sweep, bravo's as the parent). */
const ownedParams: Record<string, Forms> = {
  id: (o) => [
    { label: 'name', value: o.cvm.name },
    { label: 'numeric id', value: String(o.cvm.id) },
    { label: 'vm_uuid', value: o.cvm.vm_uuid },
    { label: 'vm_uuid without dashes', value: o.cvm.vm_uuid.replace(/-/g, '') },
    { label: 'vm_uuid upper case', value: o.cvm.vm_uuid.toUpperCase() },
    { label: 'app_<app_id>', value: `app_${o.cvm.app_id}` },
    { label: '0x<app_id>', value: `0x${o.cvm.app_id}` },
    { label: 'bare app_id', value: o.cvm.app_id },
    { label: 'instance_<instance_id>', value: `instance_${o.cvm.instance_id}` },
    { label: 'app_<instance_id>', value: `app_${o.cvm.instance_id}` },
  ],
  app_id: (o) => [
    { label: 'bare app_id', value: o.cvm.app_id },
    { label: 'app_<app_id>', value: `app_${o.cvm.app_id}` },
    { label: '0x<app_id>', value: `0x${o.cvm.app_id}` },
    { label: 'upper-case app_id', value: o.cvm.app_id.toUpperCase() },
    ...(o === alpha ? [{ label: 'app_id of a provision not committed', value: alphaPending.provisionAppId }] : []),
  ],
  revision_id: (o) => o.revisionIds.map((r, i) => ({ label: `revision ${i}`, value: r })),
  correlation_id: (o) => o.correlationIds.map((c, i) => ({ label: `operation ${i}`, value: c })),
  token_id: (o) => [{ label: 'token id', value: o.tokenId }],
  key_id: (o) => [{ label: 'SSH key id', value: o.sshKeyId }],
  slug: (o) => [{ label: 'slug', value: o.slug }],
  team_slug: (o) => [{ label: 'slug', value: o.slug }],
  workspace_slug: (o) => [{ label: 'slug', value: o.slug }],
  user_id: (o) => [{ label: 'user id', value: o.userId }],
  invitation_id: (o) => [{ label: 'invitation id', value: o.invitationId }],
  webhook_id: (o) => [{ label: 'webhook id', value: o.webhookId }],
  event_id: (o) => [{ label: 'event id of a delivery', value: o.eventId }],
};

/** Path parameters naming nothing a workspace owns, and why. */
const globalParams: Record<string, string> = {
  family: 'an instance type family: the catalogue every workspace shares',
  kms: 'a KMS instance: shared by every workspace',
  chain: 'a chain name: shared',
  asset: 'a file of the API reference',
  host: 'a host of the admin API (admin key only)',
  method: "a dstack KMS pRPC method (the host's credential)",
  name: 'a container name under a signed log URL',
  kms_type: "dstack-kms's auth webhook (public by design)",
  checksum: 'a verified quote, looked up by its checksum: global by design (anyone may verify and share a quote)',
};

/** Endpoints with an owned parameter that are not per workspace, and why. */
const exempt: Record<string, string> = {
  getAppEnvEncryptPubKey:
    "the KMS's env-encryption key for any 40-hex app id (also apps not deployed yet, and on-chain apps the server has not seen): a derivation every workspace may ask for, answered alike for every app id, so it tells nothing about whose app it is",
};

/** Endpoints without an owned path parameter that write: what their ids are, or why they are not swept. */
const unsweptWrites: Record<string, string> = {
  provisionCvm: "creates the caller's own provision; alpha's names are free to reuse in bravo (names are per workspace)",
  createApiToken: "creates a token of the caller's workspace",
  createSshKey: "adds a key of the caller's user (alpha's key line is added to bravo's user in `before`: fingerprints are per user)",
  importGithubProfileSshKeys: "imports into the caller's user",
  syncGithubSshKeys: "syncs the caller's user's keys",
  createWebhook: "creates a webhook of the caller's workspace (its body names a URL and event types, nothing of another workspace)",
  checkWorkspaceSlug: 'slugs are unique across the server, so whether one is taken is not a secret of its workspace (and it changes nothing)',
};

/** A body that would be valid for alpha's CVM/app (so a 404 is about ownership, not about the body). */
function requestFor(e: Endpoint): { json?: unknown; text?: string; textType?: string; headers?: Record<string, string> } {
  const examples: Record<string, { json?: unknown; text?: string; headers?: Record<string, string> }> = {
    checkAppIsAllowed: { json: { compose_hash: alpha.cvm.compose_hash } },
    patchCvm: { json: { docker_compose_file: COMPOSE_2 } },
    commitCvmUpdate: { json: { token: alphaPending.commitToken } },
    upgradeCvmCompose: { json: { compose_manifest: { docker_compose_file: COMPOSE_2 } } },
    commitCvmComposeFileUpdate: { json: { compose_hash: alphaPending.composeFileHash } },
    commitCvmComposeFile: { json: { compose_hash: alphaPending.composeFileHash } },
    provisionCvmComposeFileUpdate: { json: { docker_compose_file: COMPOSE_2 } },
    updateCvmEnvs: { json: { encrypted_env: 'ab'.repeat(64), env_keys: ['GREETING'] } },
    updateOsImage: { json: { os_image_name: alphaPending.osImage } },
    updateCvmResources: { json: { vcpu: 2 } },
    updateCvmVisibility: { json: { public_logs: false } },
    restartCvm: { json: { force: true } },
    replicateCvm: { json: {} },
    rollbackAppRevision: { json: {} },
    updateCvmName: { json: { name: 'bravo-took-this' } },
    updateCvmListed: { json: { listed: true } },
    updateCvmScheduledDelete: { json: { scheduled_delete_at: new Date(Date.now() + 3600_000).toISOString() } },
    refreshApiToken: { json: { expires_in_days: 30 } },
    createWorkspaceInvitation: { json: { email: 'intruder@bravo.example', role: 'MEMBER' } },
    updateWorkspaceMemberRole: { json: { role: 'VIEWER' } },
    updateDockerCompose: { text: COMPOSE_2 },
    updatePreLaunchScript: { text: 'echo hello\n' },
  };
  const ex = examples[e.id];
  if (ex) {
    if (ex.json !== undefined) {
      const parsed = e.body?.json?.safeParse(ex.json);
      assert.ok(parsed?.success, `${e.id}: the example body does not parse: ${JSON.stringify(parsed?.error?.issues)}`);
    }
    return { ...ex, textType: e.body?.text?.types[0] };
  }
  if (!e.body || e.body.optional) return {};
  if (e.body.json?.safeParse({}).success) return { json: {} };
  if (e.body.text) return { text: '', textType: e.body.text.types[0] };
  throw new Error(`${e.id}: give it a body that would be valid for alpha's thing in requestFor's examples`);
}

const paramsOf = (e: Endpoint) => [...e.path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);

interface Target {
  e: Endpoint;
  label: string;
  values: Record<string, string>;
}

/** Every request of the path sweep, and what the contract declares that the sweep does not reach (with why). */
function plan(): { targets: Target[]; problems: string[]; swept: Set<string> } {
  const targets: Target[] = [];
  const problems: string[] = [];
  const swept = new Set<string>();
  for (const e of endpoints) {
    const params = paramsOf(e);
    if (e.auth !== 'apiKey') continue; // not a workspace's key: admin key, host credential, signed URL, public
    const owned = params.filter((p) => p in ownedParams);
    for (const p of params) if (!(p in ownedParams) && !(p in globalParams)) problems.push(`${e.id} (${e.method} ${e.path}): parameter {${p}} is neither in ownedParams nor in globalParams`);
    if (!owned.length || e.id in exempt) continue;
    swept.add(e.id);
    const canonical = (o: Owned, p: string) => ownedParams[p](o)[0];
    for (const p of owned) {
      const forms = ownedParams[p](alpha);
      if (!forms.length) problems.push(`${e.id}: alpha has no {${p}} to point at`);
      for (const f of forms) {
        const values = Object.fromEntries(owned.map((q) => [q, q === p ? f.value : canonical(alpha, q)?.value ?? 'none']));
        targets.push({ e, label: `alpha's ${p} by ${f.label}`, values });
      }
    }
    if (owned.length > 1) {
      for (const p of owned) {
        const values = Object.fromEntries(owned.map((q) => [q, (q === p ? canonical(alpha, q) : canonical(bravo, q))?.value ?? 'none']));
        targets.push({ e, label: `bravo's own ${owned.filter((q) => q !== p).join(', ')} with alpha's ${p}`, values });
      }
    }
  }
  return { targets, problems, swept };
}

const pathOf = (e: Endpoint, values: Record<string, string>) =>
  e.path.replace(/\{([^}]+)\}/g, (_, p: string) => encodeURIComponent(values[p] ?? ''));

// ---------------------------------------------------------------------------------------------
// the official SDK's functions, by endpoint id (the rest of the sweep goes over raw HTTP)

type SdkCall = (c: Client, v: Record<string, string>) => Promise<{ success: boolean; error?: unknown }>;
/** endpoint id → the official SDK's function for it, called with bravo's client and the sweep's path values */
const sdkCalls: Record<string, SdkCall> = {
  getCvm: (c, v) => phala.safeGetCvmInfo(c, { id: v.id }),
  getCvmComposeFile: (c, v) => phala.safeGetCvmComposeFile(c, { id: v.id }),
  getCvmDockerCompose: (c, v) => phala.safeGetCvmDockerCompose(c, { id: v.id }),
  getCvmPreLaunchScript: (c, v) => phala.safeGetCvmPreLaunchScript(c, { id: v.id }),
  getCvmNetwork: (c, v) => phala.safeGetCvmNetwork(c, { id: v.id }),
  getCvmStats: (c, v) => phala.safeGetCvmStats(c, { id: v.id }),
  getCvmContainersStats: (c, v) => phala.safeGetCvmContainersStats(c, { id: v.id }),
  getCvmUserConfig: (c, v) => phala.safeGetCvmUserConfig(c, { id: v.id }),
  getAvailableOsImages: (c, v) => phala.safeGetAvailableOsImages(c, { id: v.id }),
  startCvm: (c, v) => phala.safeStartCvm(c, { id: v.id }),
  stopCvm: (c, v) => phala.safeStopCvm(c, { id: v.id }),
  shutdownCvm: (c, v) => phala.safeShutdownCvm(c, { id: v.id }),
  restartCvm: (c, v) => phala.safeRestartCvm(c, { id: v.id, force: true }),
  deleteCvm: (c, v) => phala.safeDeleteCvm(c, { id: v.id }),
  updateCvmResources: (c, v) => phala.safeUpdateCvmResources(c, { id: v.id, vcpu: 2 }),
  updateCvmVisibility: (c, v) => phala.safeUpdateCvmVisibility(c, { id: v.id, public_logs: false, public_sysinfo: true }),
  updateOsImage: (c, v) => phala.safeUpdateOsImage(c, { id: v.id, os_image_name: alphaPending.osImage }),
  updateCvmEnvs: (c, v) => phala.safeUpdateCvmEnvs(c, { id: v.id, encrypted_env: 'ab'.repeat(64), env_keys: ['GREETING'] }),
  updateDockerCompose: (c, v) => phala.safeUpdateDockerCompose(c, { id: v.id, docker_compose_file: COMPOSE_2 }),
  updatePreLaunchScript: (c, v) => phala.safeUpdatePreLaunchScript(c, { id: v.id, pre_launch_script: 'echo hello\n' }),
  commitCvmUpdate: (c, v) => phala.safeCommitCvmUpdate(c, { id: v.id, token: alphaPending.commitToken, composeHash: alphaPending.preparedHash, transactionHash: 'already-registered' }),
  commitCvmComposeFileUpdate: (c, v) => phala.safeCommitCvmComposeFileUpdate(c, { id: v.id, compose_hash: alphaPending.composeFileHash, encrypted_env: undefined, env_keys: undefined }),
  replicateCvm: (c, v) => phala.safeReplicateCvm(c, { id: v.id }),
  refreshCvmInstanceId: (c, v) => phala.safeRefreshCvmInstanceId(c, { id: v.id }),
  checkCvmIsAllowed: (c, v) => phala.safeCheckCvmIsAllowed(c, { cvmId: v.id }),
  patchCvm: (c, v) => phala.safePatchCvm(c, { id: v.id, docker_compose_file: COMPOSE_2 }),
  getCvmState: (c, v) => phala.safeGetCvmState(c, { id: v.id }),
  getAppInfo: (c, v) => phala.safeGetAppInfo(c, { appId: v.app_id }),
  getAppCvms: (c, v) => phala.safeGetAppCvms(c, { appId: v.app_id }),
  getAppRevisions: (c, v) => phala.safeGetAppRevisions(c, { appId: v.app_id }),
  getAppRevisionDetail: (c, v) => phala.safeGetAppRevisionDetail(c, { appId: v.app_id, revisionId: v.revision_id }),
  checkAppIsAllowed: (c, v) => phala.safeCheckAppIsAllowed(c, { appId: v.app_id, compose_hash: alpha.cvm.compose_hash }),
  checkAppCvmsIsAllowed: (c, v) => phala.safeCheckAppCvmsIsAllowed(c, { appId: v.app_id }),
  getAppDeviceAllowlist: (c, v) => phala.safeGetAppDeviceAllowlist(c, { appId: v.app_id }),
  createAppInstance: (c, v) => phala.safeCreateAppInstance(c, { appId: v.app_id }),
  deleteSshKey: (c, v) => phala.safeDeleteSshKey(c, { keyId: v.key_id }),
  getWorkspace: (c, v) => phala.safeGetWorkspace(c, v.slug),
  getWorkspaceNodes: (c, v) => phala.safeGetWorkspaceNodes(c, { teamSlug: v.slug }),
  getWorkspaceQuotas: (c, v) => phala.safeGetWorkspaceQuotas(c, { teamSlug: v.slug }),
};

// ---------------------------------------------------------------------------------------------
// alpha's state, before and after

/** Columns that move by themselves while nothing is asked, and why they are left out of the comparison. */
const movingColumns: Record<string, string[]> = {
  // written at most once a minute when a key is used: alpha's own reads below use alpha's key
  api_keys: ['last_used_at'],
  // the runtime reconciler refreshes a running CVM's guest snapshot (containers, uptime) when it is older than
  // six reconcile ticks, whoever asks or not; the sim-call check below accounts for its guest reads
  cvms: ['runtime'],
};

async function databaseState(): Promise<Record<string, string[]>> {
  const tables = await env.server.db.query<{ table_name: string }>(
    `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`,
  );
  const out: Record<string, string[]> = {};
  for (const { table_name } of tables) {
    const rows = await env.server.db.query<{ r: Record<string, unknown> }>(`SELECT to_jsonb(t) AS r FROM "${table_name}" t`);
    out[table_name] = rows
      .map(({ r }) => {
        for (const c of movingColumns[table_name] ?? []) delete r[c];
        return JSON.stringify(r, Object.keys(r).sort());
      })
      .sort();
  }
  return out;
}

/** What alpha reads of its own things through the API (leaving out what moves by itself: uptime, last use). */
async function alphaReads(): Promise<Record<string, unknown>> {
  const strip = (v: any): any => {
    if (Array.isArray(v)) return v.map(strip);
    if (v && typeof v === 'object') {
      return Object.fromEntries(Object.entries(v).filter(([k]) => !['uptime', 'last_used_at', 'runtime', 'last_seen_at'].includes(k)).map(([k, x]) => [k, strip(x)]));
    }
    return v;
  };
  const id = alpha.cvm.vm_uuid;
  const reads = {
    list: await json(alpha.key, 'GET', '/cvms/paginated'),
    detail: await json(alpha.key, 'GET', `/cvms/${id}`),
    compose: await json(alpha.key, 'GET', `/cvms/${id}/compose_file`),
    operations: await json(alpha.key, 'GET', `/cvms/${id}/operations`),
    revisions: await json(alpha.key, 'GET', `/apps/${alpha.cvm.app_id}/revisions`),
    apps: await json(alpha.key, 'GET', '/apps'),
    tokens: await json(alpha.key, 'GET', '/tokens'),
    sshKeys: await json(alpha.key, 'GET', '/user/ssh-keys'),
    workspace: await json(alpha.key, 'GET', `/workspaces/${alpha.slug}`),
  };
  return strip(reads);
}

async function simCalls(): Promise<{ method: string; name: string | null }[]> {
  const res = await fetch(`${env.sim.url}/sim/calls`);
  return ((await res.json()) as { calls: { method: string; name: string | null }[] }).calls;
}

/** When the runtime reconciler last asked alpha's guest for its snapshot. */
async function runtimeAttemptedAt(): Promise<string | null> {
  const [row] = await env.server.db.query<{ at: string | null }>(`SELECT runtime->>'attempted_at' AS at FROM cvms WHERE vm_uuid = $1`, [alpha.cvm.vm_uuid]);
  return row.at;
}

/** The simulated host's VM id of alpha's CVM, its name on the host, and the ids that point at it. */
async function alphaVmNames(): Promise<string[]> {
  const [row] = await env.server.db.query<{ host_vm_id: string }>('SELECT host_vm_id FROM cvms WHERE vm_uuid = $1', [alpha.cvm.vm_uuid]);
  return [row.host_vm_id, alpha.cvm.vm_uuid, alpha.cvm.name].filter(Boolean);
}

/** Strings of alpha's that no answer to bravo may carry (beyond what bravo's request itself sent). */
function alphaSecrets(): string[] {
  return [
    alpha.cvm.vm_uuid,
    alpha.cvm.vm_uuid.replace(/-/g, ''),
    alpha.cvm.app_id,
    alpha.cvm.instance_id,
    alpha.cvm.name,
    alpha.cvm.compose_hash,
    'alpha-pending-cvm',
    alphaPending.provisionAppId,
    alphaPending.provisionHash,
    alphaPending.commitToken,
    alphaPending.preparedHash,
    alphaPending.composeFileHash,
    ...alpha.revisionIds,
    ...alpha.correlationIds,
    'alpha-sweep',
    'alpha@sweep',
    'alpha-sweep-laptop',
    'alpha-sweep-ci',
  ];
}

function leaks(text: string, sent: string): string[] {
  const low = text.toLowerCase();
  const sentLow = sent.toLowerCase();
  return alphaSecrets().filter((s) => low.includes(s.toLowerCase()) && !sentLow.includes(s.toLowerCase()));
}

// ---------------------------------------------------------------------------------------------

test('every endpoint of the contract is swept, or named with the reason it is not', () => {
  const { problems, targets } = plan();
  const writes = endpoints.filter((e) => e.auth === 'apiKey' && e.method !== 'GET' && !paramsOf(e).some((p) => p in ownedParams));
  for (const e of writes) {
    if (!(e.id in bodyIdChecks) && !(e.id in unsweptWrites)) problems.push(`${e.id} (${e.method} ${e.path}): a write with no owned path parameter is neither in bodyIdChecks nor in unsweptWrites`);
  }
  for (const id of [...Object.keys(exempt), ...Object.keys(unsweptWrites), ...Object.keys(bodyIdChecks), ...Object.keys(sdkCalls)]) {
    if (!endpoints.some((e) => e.id === id)) problems.push(`${id} is named here but the contract has no such endpoint`);
  }
  assert.deepEqual(problems, []);
  // the sweep reaches the CVM, app, revision, operation, token, SSH key and workspace routes
  for (const p of ['id', 'app_id', 'revision_id', 'correlation_id', 'token_id', 'key_id', 'slug']) {
    assert.ok(targets.some((t) => p in t.values), `nothing swept with {${p}}`);
  }
});

/** Writes that take ids in their body: alpha's ids sent by bravo. Each returns the answer; the sweep checks it names nothing of alpha's. */
const bodyIdChecks: Record<string, (key: string) => Promise<{ answer: Answer; sent: string }>> = {
  commitCvmProvision: async (key) => {
    // alpha's provision, committed by bravo, is answered as one that was never made (a made-up hash of alpha's app)
    const body = { app_id: alphaPending.provisionAppId, compose_hash: alphaPending.provisionHash };
    const answer = await http(key, 'POST', '/cvms', { json: body });
    const unknown = await http(key, 'POST', '/cvms', { json: { ...body, compose_hash: 'e'.repeat(64) } });
    const shape = (a: Answer) => ({ status: a.status, ...JSON.parse(a.body).detail, request_id: undefined, message: JSON.parse(a.body).detail.message.replace(/[0-9a-f]{64}/, '<hash>') });
    assert.deepEqual(shape(answer), shape(unknown), "alpha's provision is answered differently from one never made");
    return { answer, sent: JSON.stringify(body) };
  },
  getCvmStatusBatch: async (key) => {
    const body = { vm_uuids: [alpha.cvm.vm_uuid, alpha.cvm.vm_uuid.replace(/-/g, '')] };
    const answer = await http(key, 'POST', '/status/batch', { json: body });
    // the ids bravo sent may come back, but with nothing of alpha's CVM: no status, no instance id
    assert.ok(!/running/.test(answer.body), `the batch status shows alpha's CVM: ${answer.body}`);
    return { answer, sent: JSON.stringify(body) };
  },
  batchStopCvms: async (key) => {
    // every form of alpha's CVM id: each an error entry ("not found"), none stopped (the sweep checks alpha's CVM still runs)
    const body = { cvm_ids: ownedParams.id(alpha).map((f) => f.value) };
    const answer = await http(key, 'POST', '/cvms/batch-stop', { json: body });
    assert.equal(answer.status, 200, answer.body);
    const r = JSON.parse(answer.body) as { total: number; stopped: number; skipped: number; errors: { cvm_id: string; error: string }[] };
    assert.deepEqual([r.total, r.stopped, r.skipped, r.errors.length], [body.cvm_ids.length, 0, 0, body.cvm_ids.length], answer.body);
    for (const e of r.errors) assert.match(e.error, /not found/, answer.body);
    return { answer, sent: JSON.stringify(body) };
  },
  refreshCvmInstanceIds: async (key) => {
    const body = { cvm_ids: ownedParams.id(alpha).map((f) => f.value), overwrite: true };
    const answer = await http(key, 'PATCH', '/cvms/instance-ids', { json: body });
    assertNoneFound(answer, body.cvm_ids.length);
    return { answer, sent: JSON.stringify(body) };
  },
  refreshCvmInstanceIdsNew: async (key) => {
    const body = { ids: ownedParams.id(alpha).map((f) => f.value) };
    const answer = await http(key, 'POST', '/cvms/refresh-instance-ids', { json: body });
    assertNoneFound(answer, body.ids.length);
    return { answer, sent: JSON.stringify(body) };
  },
};

/** A batch answer (`InstanceIdBatch`) in which every id bravo sent was found nowhere and nothing was done. */
function assertNoneFound(answer: Answer, n: number) {
  assert.ok(answer.status < 300, answer.body);
  const batch = JSON.parse(answer.body) as { updated: number; items: { cvm_id: unknown; status: string; old_instance_id: unknown; new_instance_id: unknown; reason?: string }[] };
  assert.equal(batch.updated, 0, answer.body);
  assert.equal(batch.items.length, n, answer.body);
  for (const item of batch.items) {
    assert.equal(item.status, 'error', JSON.stringify(item));
    assert.match(item.reason ?? '', /not found/, JSON.stringify(item));
    assert.ok(!item.cvm_id && item.old_instance_id === null && item.new_instance_id === null, `an item shows alpha's CVM: ${JSON.stringify(item)}`);
  }
}

test("bravo's key, on every path naming alpha's things by every id form: 404 in the envelope, and nothing changes", async () => {
  const { targets } = plan();
  const bravoSdk = sdk(bravo.key);
  const dbBefore = await databaseState();
  const readsBefore = await alphaReads();
  const callsBefore = (await simCalls()).length;
  const runtimeBefore = await runtimeAttemptedAt();
  const failures: string[] = [];
  let sdkUsed = 0;
  for (const t of targets) {
    const what = `${t.e.id} ${t.e.method} ${t.e.path} — ${t.label}`;
    const call = sdkCalls[t.e.id];
    if (call) {
      sdkUsed++;
      const r = await call(bravoSdk, t.values);
      const err = r.error as ResourceError | undefined;
      if (r.success) failures.push(`${what} [SDK]: succeeded`);
      else if (!(err instanceof ResourceError)) failures.push(`${what} [SDK]: not an API error: ${String((err as unknown as Error | undefined)?.message ?? err).slice(0, 200)}`);
      else if (err.status !== 404) failures.push(`${what} [SDK]: ${err.status} ${err.errorCode}: ${err.message}`);
    }
    // the same over raw HTTP (every endpoint: the SDK may not send every id form as is)
    const req = requestFor(t.e);
    const path = pathOf(t.e, t.values);
    const a = await http(bravo.key, t.e.method, path, req);
    if (a.status !== 404) {
      failures.push(`${what}: ${a.status} ${a.body.slice(0, 200)}`);
      continue;
    }
    const problem = envelopeProblem(a.contentType, a.body);
    if (problem) failures.push(`${what}: 404 not in the envelope: ${problem}`);
    const leaked = leaks(a.body, `${path} ${JSON.stringify(req.json ?? '')} ${req.text ?? ''}`);
    if (leaked.length) failures.push(`${what}: the 404 names ${leaked.join(', ')}`);
  }
  assert.deepEqual(failures, [], `${failures.length} of ${targets.length} requests were not a plain 404`);
  assert.ok(sdkUsed > 0);

  // the writes that take ids in their body
  for (const [id, check] of Object.entries(bodyIdChecks)) {
    const { answer, sent } = await check(bravo.key);
    assert.ok(answer.status < 500, `${id}: ${answer.status} ${answer.body}`);
    assert.deepEqual(leaks(answer.body, sent), [], `${id}: bravo's answer names alpha's things: ${answer.body.slice(0, 300)}`);
  }

  // nothing changed: every table, alpha's own reads, and no host call about alpha's VM
  const vmNames = await alphaVmNames();
  const calls = (await simCalls()).slice(callsBefore);
  // the server's own reads: the reconciler's Status, and its guest reads when it refreshed alpha's runtime snapshot
  const refreshedMeanwhile = (await runtimeAttemptedAt()) !== runtimeBefore;
  const aboutAlpha = calls.filter(
    (c) => c.name && vmNames.some((n) => c.name!.includes(n)) && c.method !== 'Status' && !(refreshedMeanwhile && c.method.startsWith('guest.')),
  );
  assert.deepEqual(aboutAlpha, [], "the host was called about alpha's VM during bravo's requests");
  const dbAfter = await databaseState();
  for (const table of Object.keys({ ...dbBefore, ...dbAfter })) {
    assert.deepEqual(dbAfter[table], dbBefore[table], `table ${table} changed during bravo's requests`);
  }
  assert.deepEqual(await alphaReads(), readsBefore);
});

test("bravo's key reads nothing of alpha's on the endpoints without an owned path parameter", async () => {
  const reads = endpoints.filter((e) => e.auth === 'apiKey' && e.method === 'GET' && !paramsOf(e).some((p) => p in ownedParams));
  assert.ok(reads.some((e) => e.id === 'listCvms') && reads.some((e) => e.id === 'getAppList'));
  const queries: Record<string, string[]> = {
    listCvms: ['', `?node_id=1`, `?user_id=${alpha.userId}`],
    getAppList: ['', `?search=alpha`, `?search=${alpha.cvm.app_id}`],
    listApiTokens: ['', '?all_workspaces=true'],
    listWorkspaces: [''],
  };
  for (const e of reads) {
    const path = e.path.replace(/^\/api\/v1/, '');
    const concrete = path.replace(/\{family\}/, 'cpu').replace(/\{kms\}/, 'phala').replace(/\{chain\}/, 'ethereum');
    for (const q of queries[e.id] ?? ['']) {
      const sent = q;
      const a = await http(bravo.key, 'GET', `${concrete}${q}`);
      assert.ok(a.status < 500, `${e.id}${q}: ${a.status} ${a.body.slice(0, 200)}`);
      assert.deepEqual(leaks(a.body, sent), [], `${e.id}${q}: bravo's answer names alpha's things: ${a.body.slice(0, 300)}`);
    }
  }
  // the SDK's lists, too
  const b = sdk(bravo.key);
  const lists = [await phala.getCvmList(b), await phala.getAppList(b), await phala.listSshKeys(b), await phala.getCvmStatusBatch(b, { vmUuids: [alpha.cvm.vm_uuid] }), await phala.listWorkspaces(b)];
  for (const l of lists) assert.deepEqual(leaks(JSON.stringify(l), ''), [], JSON.stringify(l).slice(0, 300));
});

test("alpha's key still reaches every id form the sweep used (the 404s above are about the workspace, not the form)", async () => {
  for (const f of ownedParams.id(alpha)) {
    const a = await http(alpha.key, 'GET', `/cvms/${encodeURIComponent(f.value)}`);
    assert.equal(a.status, 200, `alpha's ${f.label}: ${a.body.slice(0, 200)}`);
    assert.equal(JSON.parse(a.body).vm_uuid ?? JSON.parse(a.body).id, JSON.parse((await http(alpha.key, 'GET', `/cvms/${alpha.cvm.vm_uuid}`)).body).vm_uuid ?? alpha.cvm.vm_uuid);
  }
  for (const f of ownedParams.app_id(alpha).filter((f) => f.value !== alphaPending.provisionAppId)) {
    assert.equal((await http(alpha.key, 'GET', `/apps/${encodeURIComponent(f.value)}`)).status, 200, `alpha's app by ${f.label}`);
  }
  for (const r of alpha.revisionIds) assert.equal((await http(alpha.key, 'GET', `/apps/${alpha.cvm.app_id}/revisions/${r}`)).status, 200);
  for (const c of alpha.correlationIds) assert.equal((await http(alpha.key, 'GET', `/cvms/${alpha.cvm.vm_uuid}/operations/${c}`)).status, 200);
  assert.equal((await http(alpha.key, 'GET', `/workspaces/${alpha.slug}`)).status, 200);
  assert.ok((await json<{ id: number }[]>(alpha.key, 'GET', '/tokens')).some((t) => String(t.id) === alpha.tokenId));
  assert.ok((await json<{ id: string }[]>(alpha.key, 'GET', '/user/ssh-keys')).some((k) => k.id === alpha.sshKeyId));
  // alpha's waiting things are still usable by alpha: the compose-file provision commits
  const commit = await http(alpha.key, 'POST', `/cvms/${alpha.cvm.vm_uuid}/compose_file/commit`, { json: { compose_hash: alphaPending.composeFileHash } });
  assert.ok(commit.status < 300, commit.body);
});

test("the exempt endpoints answer alpha's ids as they answer any id", async () => {
  // getAppEnvEncryptPubKey: bravo gets the same kind of answer for alpha's app as for an app id nobody has
  const theirs = await http(bravo.key, 'GET', `/kms/phala/pubkey/${alpha.cvm.app_id}`);
  const nobodys = await http(bravo.key, 'GET', `/kms/phala/pubkey/${'7'.repeat(40)}`);
  assert.equal(theirs.status, 200, theirs.body);
  assert.equal(nobodys.status, 200, nobodys.body);
  assert.deepEqual(Object.keys(JSON.parse(theirs.body)).sort(), Object.keys(JSON.parse(nobodys.body)).sort());
  assert.deepEqual(leaks(theirs.body, alpha.cvm.app_id), []);
});
