/**
 * Workspaces, members, invitations and roles, on a real server: the operator creates a workspace and its owner's
 * token (admin API); the owner invites, the invitee accepts and gets a token of the workspace and sees its CVMs
 * (official SDK); a role change takes effect on the next request; a lower role gets 403 and nothing changes; a
 * removed member's key gets 401 at once; the last owner stays; another workspace's members and invitations are
 * 404; cancelled, used and expired invitations are refused; check-slug.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createClient } from '@phala/cloud';
import { sha256Hex } from '@opencvm/core';
import { startTestEnv, type TestEnv } from './testing/harness.ts';
import { deployRunning } from './testing/deploy.ts';
import { expireInvitation, invitationState } from './testing/members.ts';

const adminKey = `admin_${randomBytes(24).toString('base64url')}`;
let env: TestEnv;
before(async () => {
  env = await startTestEnv({ config: { adminKey } });
});
after(async () => {
  await env?.close();
});

async function call(method: string, path: string, o: { key?: string | null; admin?: boolean; body?: unknown } = {}) {
  const headers: Record<string, string> = {};
  if (o.key) headers['X-API-Key'] = o.key;
  if (o.admin) headers['X-Admin-Key'] = adminKey;
  if (o.body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(`${env.apiUrl}${path}`, { method, headers, body: o.body === undefined ? undefined : JSON.stringify(o.body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}
const code = (r: { body: any }) => r.body?.detail?.error_code;
const sdk = (apiKey: string) => createClient({ apiKey, baseURL: env.apiUrl });

// the story's actors, filled in as the tests go (node's runner runs a file's tests in order)
let alice = '';
let bob = '';
let bobId = '';
let aliceId = '';
let cvmId = '';

test('the operator creates a workspace with its first owner and that owner\'s token (shown once); the SDK lists it', async () => {
  const noKey = await call('POST', '/admin/workspaces', { body: { slug: 'acme', owner: { username: 'alice' } } });
  assert.equal(noKey.status, 401);
  const wsKey = await call('POST', '/admin/workspaces', { key: env.apiKey, body: { slug: 'acme', owner: { username: 'alice' } } });
  assert.equal(wsKey.status, 401, 'a workspace key is not an admin key');

  const made = await call('POST', '/admin/workspaces', { admin: true, body: { slug: 'acme', name: 'Acme', owner: { username: 'alice', email: 'alice@acme.test' } } });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  assert.equal(made.body.workspace.slug, 'acme');
  assert.deepEqual(made.body.workspace.owners, ['alice']);
  assert.equal(made.body.owner.created, true);
  alice = made.body.api_token.token;
  aliceId = made.body.owner.user_id;
  assert.match(alice, /^phak_/);

  const again = await call('POST', '/admin/workspaces', { admin: true, body: { slug: 'acme', owner: { username: 'someone' } } });
  assert.equal(again.status, 409);
  assert.equal(code(again), 'ERR-11-007');

  const listed = await call('GET', '/admin/workspaces', { admin: true });
  assert.deepEqual(listed.body.map((w: any) => w.slug).sort(), ['acme', 'default']);

  const mine = await sdk(alice).listWorkspaces();
  assert.deepEqual(mine.data.map((w) => w.slug), ['acme']);
  assert.equal(mine.data[0].role, 'owner');
  assert.equal((await sdk(alice).getWorkspace('acme')).slug, 'acme');
  // a workspace alice is not in: 404
  const other = await call('GET', '/workspaces/default', { key: alice });
  assert.equal(other.status, 404);
  assert.equal(code(other), 'ERR-06-201');
});

test('check-slug: form, reserved words, and whether a workspace has it', async () => {
  const check = async (slug: string) => (await call('POST', '/workspaces/check-slug', { key: alice, body: { slug } })).body;
  assert.deepEqual(await check('acme'), { slug: 'acme', valid: true, available: false, message: 'A workspace has the slug "acme" already.' });
  assert.deepEqual(await check('fresh-team'), { slug: 'fresh-team', valid: true, available: true, message: null });
  assert.equal((await check('-bad-')).valid, false);
  assert.equal((await check('admin')).valid, false);
});

test('the owner invites; the invitee accepts with a new username, gets a token of the workspace and sees its CVMs', async () => {
  const vm = await deployRunning({ ...env, apiKey: alice, apiUrl: env.apiUrl } as TestEnv, 'acme-web', 'services:\n  web:\n    image: nginx\n');
  cvmId = vm.vm_uuid!;
  const inv = await call('POST', '/workspaces/acme/invitations', { key: alice, body: { email: 'bob@acme.test', role: 'VIEWER' } });
  assert.equal(inv.status, 200, JSON.stringify(inv.body));
  assert.equal(inv.body.status, 'PENDING');
  assert.equal(inv.body.role, 'VIEWER');
  const secret: string = inv.body.token;
  assert.match(secret, /^phinv_/);
  const stored = await invitationState(env.server.db, inv.body.id);
  assert.equal(stored.token_hash, sha256Hex(secret), 'stored as its SHA-256 only');
  const pending = await call('GET', '/workspaces/acme/invitations', { key: alice });
  assert.equal(pending.body.total, 1);
  assert.notEqual(pending.body.items[0].token, secret, 'the list shows no secret');
  assert.ok(secret.startsWith(pending.body.items[0].token));

  const accepted = await call('POST', `/invitations/${secret}/accept`, { body: { username: 'bob' } });
  assert.equal(accepted.status, 200, JSON.stringify(accepted.body));
  assert.equal(accepted.body.workspace_slug, 'acme');
  assert.equal(accepted.body.role, 'VIEWER');
  bob = accepted.body.api_token.token;
  bobId = accepted.body.user_id;
  const list = await sdk(bob).getCvmList();
  assert.deepEqual(list.items.map((c) => c.name), ['acme-web'], "the new member sees the workspace's CVM");

  const reused = await call('POST', `/invitations/${secret}/accept`, { body: { username: 'mallory' } });
  assert.equal(reused.status, 400);
  assert.equal(code(reused), 'ERR-11-005');
  assert.match(reused.body.detail.message, /used already/);
});

test('a VIEWER cannot deploy, change or delete (403 naming both roles), and nothing changes', async () => {
  const prov = await call('POST', '/cvms/provision', { key: bob, body: { name: 'nope', compose_file: { docker_compose_file: 'services:\n  a:\n    image: nginx\n' } } });
  assert.equal(prov.status, 403);
  assert.equal(code(prov), 'ERR-06-401');
  assert.match(prov.body.detail.message, /needs the MEMBER role.*your role there is VIEWER/);
  const del = await call('DELETE', `/cvms/${cvmId}`, { key: bob });
  assert.equal(del.status, 403);
  const stop = await call('POST', `/cvms/${cvmId}/stop`, { key: bob });
  assert.equal(stop.status, 403);
  const info = await sdk(alice).getCvmInfo({ id: cvmId });
  assert.equal(info.status, 'running');
  const self = await call('PATCH', `/workspaces/acme/members/${bobId}`, { key: bob, body: { role: 'OWNER' } });
  assert.equal(self.status, 403, 'a viewer cannot promote themselves');
});

test('a role change takes effect on the next request; a MEMBER may provision but not delete a CVM', async () => {
  const up = await call('PATCH', `/workspaces/acme/members/${bobId}`, { key: alice, body: { role: 'member' } });
  assert.equal(up.status, 200, JSON.stringify(up.body));
  assert.equal(up.body.role, 'MEMBER');
  const prov = await call('POST', '/cvms/provision', { key: bob, body: { name: 'bob-app', compose_file: { docker_compose_file: 'services:\n  a:\n    image: nginx\n' } } });
  assert.equal(prov.status, 200, JSON.stringify(prov.body));
  const del = await call('DELETE', `/cvms/${cvmId}`, { key: bob });
  assert.equal(del.status, 403);
  assert.match(del.body.detail.message, /needs the ADMIN role/);
  assert.equal((await sdk(alice).getCvmInfo({ id: cvmId })).status, 'running');
  const self = await call('PATCH', `/workspaces/acme/members/${bobId}`, { key: bob, body: { role: 'ADMIN' } });
  assert.equal(self.status, 403, 'a member cannot promote themselves');
  // an admin cannot make themselves (or anyone) an owner
  await call('PATCH', `/workspaces/acme/members/${bobId}`, { key: alice, body: { role: 'ADMIN' } });
  const toOwner = await call('PATCH', `/workspaces/acme/members/${bobId}`, { key: bob, body: { role: 'OWNER' } });
  assert.equal(toOwner.status, 403);
  assert.equal(code(toOwner), 'ERR-11-003');
  const members = await call('GET', '/workspaces/acme/members', { key: bob });
  assert.deepEqual(members.body.items.map((m: any) => [m.username, m.role, m.is_creator]), [['alice', 'OWNER', true], ['bob', 'ADMIN', false]]);
});

test('tokens: a MEMBER sees and revokes only their own; an owner sees all of the workspace\'s', async () => {
  await call('PATCH', `/workspaces/acme/members/${bobId}`, { key: alice, body: { role: 'MEMBER' } });
  const bobs = await call('GET', '/tokens', { key: bob });
  assert.deepEqual(bobs.body.map((t: any) => t.name), ['invitation']);
  const alices = await call('GET', '/tokens', { key: alice });
  assert.equal(alices.body.length, 2);
  const aliceToken = alices.body.find((t: any) => t.name !== 'invitation');
  const revoke = await call('DELETE', `/tokens/${aliceToken.id}`, { key: bob });
  assert.equal(revoke.status, 404);
  assert.equal((await call('GET', '/auth/me', { key: alice })).status, 200, "alice's token still works");
});

test('the last owner cannot leave, be removed or be demoted', async () => {
  const leave = await call('POST', '/workspaces/acme/leave', { key: alice });
  assert.equal(leave.status, 400);
  assert.equal(code(leave), 'ERR-11-002');
  const remove = await call('DELETE', `/workspaces/acme/members/${aliceId}`, { key: alice });
  assert.equal(remove.status, 400);
  assert.equal(code(remove), 'ERR-11-002');
  await call('PATCH', `/workspaces/acme/members/${bobId}`, { key: alice, body: { role: 'ADMIN' } });
  const demote = await call('PATCH', `/workspaces/acme/members/${aliceId}`, { key: bob, body: { role: 'MEMBER' } });
  assert.equal(demote.status, 403, 'an admin cannot demote an owner');
  const removeByAdmin = await call('DELETE', `/workspaces/acme/members/${aliceId}`, { key: bob });
  assert.equal(removeByAdmin.status, 403);
  const members = await call('GET', '/workspaces/acme/members', { key: alice });
  assert.equal(members.body.items[0].role, 'OWNER');
});

test("another workspace's members and invitations are 404 and nothing changes", async () => {
  const inv = await call('POST', '/workspaces/acme/invitations', { key: alice, body: { email: 'x@acme.test', role: 'MEMBER' } });
  // the default workspace's owner, on acme's slug and on acme's ids
  for (const [m, p, body] of [
    ['GET', '/workspaces/acme/members'],
    ['GET', '/workspaces/acme/invitations'],
    ['DELETE', `/workspaces/acme/invitations/${inv.body.id}`],
    ['PATCH', `/workspaces/acme/members/${bobId}`, { role: 'VIEWER' }],
    ['DELETE', `/workspaces/acme/members/${bobId}`],
    ['POST', '/workspaces/acme/leave'],
  ] as const) {
    const r = await call(m, p, { key: env.apiKey, body });
    assert.equal(r.status, 404, `${m} ${p}: ${JSON.stringify(r.body)}`);
  }
  const viaOwn = await call('DELETE', `/workspaces/default/invitations/${inv.body.id}`, { key: env.apiKey });
  assert.equal(viaOwn.status, 404);
  assert.equal(code(viaOwn), 'ERR-11-004');
  const bobHere = await call('PATCH', `/workspaces/default/members/${bobId}`, { key: env.apiKey, body: { role: 'VIEWER' } });
  assert.equal(bobHere.status, 404);
  assert.equal(code(bobHere), 'ERR-11-001');
  assert.equal((await invitationState(env.server.db, inv.body.id)).cancelled, false);
  assert.equal((await call('GET', '/workspaces/acme/members', { key: alice })).body.items[1].role, 'ADMIN');
});

test('cancelled and expired invitations are refused; a shareable one serves many until cancelled; a key joins as its user', async () => {
  const a = await call('POST', '/workspaces/acme/invitations', { key: alice, body: { email: 'c@acme.test', role: 'MEMBER' } });
  const cancel = await call('DELETE', `/workspaces/acme/invitations/${a.body.id}`, { key: alice });
  assert.equal(cancel.status, 200);
  const r1 = await call('POST', `/invitations/${a.body.token}/accept`, { body: { username: 'carol' } });
  assert.equal(r1.status, 400);
  assert.match(r1.body.detail.message, /cancelled/);
  assert.equal((await call('DELETE', `/workspaces/acme/invitations/${a.body.id}`, { key: alice })).status, 404, 'cancelled twice');

  const b = await call('POST', '/workspaces/acme/invitations', { key: alice, body: { email: 'd@acme.test', role: 'MEMBER' } });
  await expireInvitation(env.server.db, b.body.id);
  const r2 = await call('POST', `/invitations/${b.body.token}/accept`, { body: { username: 'dave' } });
  assert.equal(r2.status, 400);
  assert.match(r2.body.detail.message, /expired/);
  assert.equal((await call('GET', '/admin/workspaces', { admin: true })).body.find((w: any) => w.slug === 'acme').members, 2, 'nobody joined');

  const share = await call('POST', '/workspaces/acme/invitations/shareable', { key: alice });
  assert.equal(share.status, 200, JSON.stringify(share.body));
  assert.equal(share.body.role, 'MEMBER');
  const e1 = await call('POST', `/invitations/${share.body.token}/accept`, { body: { username: 'erin' } });
  const f1 = await call('POST', `/invitations/${share.body.token}/accept`, { body: { username: 'frank' } });
  assert.equal(e1.status, 200);
  assert.equal(f1.status, 200);
  // the default workspace's owner invites erin, who joins with her acme key as her user
  const d = await call('POST', '/workspaces/default/invitations', { key: env.apiKey, body: { email: 'erin@x.test', role: 'VIEWER' } });
  const joined = await call('POST', `/invitations/${d.body.token}/accept`, { key: e1.body.api_token.token });
  assert.equal(joined.status, 200, JSON.stringify(joined.body));
  assert.equal(joined.body.username, 'erin');
  const erinsWorkspaces = await sdk(joined.body.api_token.token).listWorkspaces();
  assert.deepEqual(erinsWorkspaces.data.map((w) => w.slug).sort(), ['acme', 'default']);

  const items = (await call('GET', '/workspaces/acme/invitations', { key: alice })).body.items;
  const shareId = items.find((i: any) => i.email === null).id;
  await call('DELETE', `/workspaces/acme/invitations/${shareId}`, { key: alice });
  const g = await call('POST', `/invitations/${share.body.token}/accept`, { body: { username: 'grace' } });
  assert.equal(g.status, 400);
  assert.equal(code(g), 'ERR-11-005');
});

test("removal: the member's key gets 401 on its next request", async () => {
  assert.equal((await call('GET', '/auth/me', { key: bob })).status, 200);
  const r = await call('DELETE', `/workspaces/acme/members/${bobId}`, { key: alice });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const next = await call('GET', '/auth/me', { key: bob });
  assert.equal(next.status, 401);
  assert.equal(code(next), 'ERR-06-102');
});
