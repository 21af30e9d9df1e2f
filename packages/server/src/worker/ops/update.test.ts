/** `alreadyApplied`: an update resumed at `applying` sends UpdateVm only if the host's configuration lacks the change. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { prpc } from '@opencvm/contract';
import { alreadyApplied } from './update.ts';

const config = prpc.vmConfigurationSchema.parse({ name: 'a', compose_file: '{"x":1}', vcpu: 2, memory: 2048, disk_size: 20, encrypted_env: 'ABCD', image: 'dstack-0.5.8' });

test('alreadyApplied: every changed value already on the VM, and only then', () => {
  assert.equal(alreadyApplied(config, { vcpu: 2, memory: 2048 }), true);
  assert.equal(alreadyApplied(config, { vcpu: 2, memory: 4096 }), false, 'one value not there yet');
  assert.equal(alreadyApplied(config, { compose_file: '{"x":1}', image: 'dstack-0.5.8' }), true);
  assert.equal(alreadyApplied(config, { compose_file: '{"X":1}' }), false, 'a compose differing only in case is another compose');
  assert.equal(alreadyApplied(config, { encrypted_env: 'abcd' }), true, 'env bytes in either case of hex');
  assert.equal(alreadyApplied(null, { vcpu: 2 }), false, 'no configuration reported: send it');
});
