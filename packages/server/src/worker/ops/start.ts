/** `start`: boot a CVM's existing host VM again (StartVm unless it already runs), then follow the boot. */
import type { OperationKind } from '../context.ts';
import { bootAgain } from '../vm-steps.ts';

export const start: OperationKind = { run: (ctx) => bootAgain(ctx), onFailure: 'boot' };
