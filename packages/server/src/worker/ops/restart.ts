/** `restart`: halt (graceful unless `force`), then boot the same host VM again. Steps: (halt) → restarting → booting. */
import type { OperationModule } from '../context.ts';
import { bootAgain, halt } from '../vm-steps.ts';

export const restart: OperationModule = {
  onFailure: 'boot',
  async run(ctx) {
    const { step, params } = ctx.op;
    if (step !== 'booting' && step !== 'restarting') {
      await halt(ctx, params.force ? 'force' : 'graceful', { finish: false, statusAfter: 'restarting' });
      if (ctx.stopping()) return;
      await ctx.step('restarting');
    }
    await bootAgain(ctx);
  },
};
