/**
 * Events are kept `OPENCVM_EVENT_RETENTION_DAYS` days (0: for ever). Every server's runtime reconciler calls
 * `tick` on each of its passes; at most once an hour it deletes the older events, in batches of `batch` (each its
 * own statement, so no lock is held long), with their webhook deliveries and attempts. An event whose delivery is
 * still pending is kept until the delivery ends.
 */
import type { Db } from '../db/index.ts';
import { pruneEvents } from '../store/events.ts';

const DAY_MS = 86_400_000;

export class EventRetention {
  private lastRun = 0;

  constructor(
    private readonly db: Db,
    private readonly o: { days: number; everyMs?: number; batch?: number; log: (msg: string, err?: unknown) => void },
  ) {}

  /** Prune if the last prune was more than an hour ago. */
  async tick(now = Date.now()): Promise<void> {
    if (this.o.days === 0 || now - this.lastRun < (this.o.everyMs ?? 3_600_000)) return;
    this.lastRun = now;
    await this.prune(now).catch((e) => this.o.log('deleting the events past their retention failed', e));
  }

  /** Delete the events older than the retention, batch by batch; answers how many were deleted. */
  async prune(now = Date.now()): Promise<number> {
    if (this.o.days === 0) return 0;
    const before = new Date(now - this.o.days * DAY_MS);
    const batch = this.o.batch ?? 5000;
    let total = 0;
    for (;;) {
      const n = await pruneEvents(this.db, before, batch);
      total += n;
      if (n < batch) return total;
    }
  }
}
