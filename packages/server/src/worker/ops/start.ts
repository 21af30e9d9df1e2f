/** `start`: boot a CVM's existing host VM again (StartVm unless it already runs), then follow the boot. */
import type { OperationModule } from '../context.ts';
import { bootAgain } from '../vm-steps.ts';

export const start: OperationModule = { run: (ctx) => bootAgain(ctx), onFailure: 'boot' };
