/**
 * `stop` (force: StopVm, the VM's process is killed) and `shutdown` (graceful: ShutdownVm, the guest stops
 * its containers first; it becomes a forced stop past the CVM's shutdown timeout, if the CVM allows it).
 */
import type { OperationModule } from '../context.ts';
import { halt } from '../vm-steps.ts';

export const stop: OperationModule = { run: (ctx) => halt(ctx, 'force'), onFailure: 'host' };

export const shutdown: OperationModule = { run: (ctx) => halt(ctx, 'graceful'), onFailure: 'host' };
