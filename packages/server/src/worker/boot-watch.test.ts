import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HostError, type VmInfo, type VmmClient } from '../hosts/vmm-client.ts';
import { BootWatch } from './boot-watch.ts';

/** A host driver that answers `Status` from a table and records each call's ids. */
function fakeHosts(vms: Record<number, Record<string, Partial<VmInfo>>>, fail?: Set<number>) {
  const calls: { node: number; ids: string[] }[] = [];
  const nodes = {
    client: async (node: number) =>
      ({
        status: async (o: { ids?: string[]; brief?: boolean }) => {
          assert.equal(o.brief, true, 'the batched read asks for brief answers');
          calls.push({ node, ids: [...(o.ids ?? [])].sort() });
          if (fail?.has(node)) throw new HostError('host unreachable', 'Status', false);
          return (o.ids ?? []).filter((id) => vms[node]?.[id]).map((id) => ({ id, ...vms[node][id] }) as VmInfo);
        },
      }) as unknown as VmmClient,
  };
  return { nodes, calls };
}

test('boots followed on one host share one Status read per poll; each host is read on its own', async () => {
  const { nodes, calls } = fakeHosts({
    1: { a: { status: 'running', boot_progress: 'booting' }, b: { status: 'running', boot_progress: 'done' } },
    2: { c: { status: 'exited', boot_error: 'oops' } },
  });
  const watch = new BootWatch(nodes, 5);
  const [a, a2, b, gone, c] = await Promise.all([
    watch.next(1, 'a'),
    watch.next(1, 'a'),
    watch.next(1, 'b'),
    watch.next(1, 'gone'),
    watch.next(2, 'c'),
  ]);
  assert.equal(a?.boot_progress, 'booting');
  assert.equal(a2?.boot_progress, 'booting');
  assert.equal(b?.boot_progress, 'done');
  assert.equal(gone, null, 'a VM the host does not list reads as gone');
  assert.equal(c?.boot_error, 'oops');
  assert.deepEqual(calls, [
    { node: 1, ids: ['a', 'b', 'gone'] },
    { node: 2, ids: ['c'] },
  ]);

  // the next round is a new read
  assert.equal((await watch.next(1, 'b'))?.boot_progress, 'done');
  assert.equal(calls.length, 3);
});

test("a host that cannot be asked rejects that read's waiters with the driver's error, and only them", async () => {
  const { nodes } = fakeHosts({ 1: { a: { status: 'running' } }, 2: { b: { status: 'running' } } }, new Set([2]));
  const watch = new BootWatch(nodes, 5);
  const [a, b] = await Promise.allSettled([watch.next(1, 'a'), watch.next(2, 'b')]);
  assert.equal(a.status, 'fulfilled');
  assert.equal(b.status, 'rejected');
  assert.ok(b.status === 'rejected' && b.reason instanceof HostError && !b.reason.reachable, 'the HostError is kept, so the worker retries');
});
