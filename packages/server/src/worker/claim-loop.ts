/**
 * The loop a server's claimers share (the operation queue, the webhook deliverer): an owner lock
 * (`owner-lock.ts`); a poll every `pollMs` that takes a new lock if the last one was lost, makes due what owners
 * that are gone held (`releaseOrphans`) and looks for work; and `wake`, which runs `scan` as the current owner,
 * one scan at a time (a wake during a scan runs another one after it). Nothing is claimed while no lock is held.
 */
import type { Db } from '../db/index.ts';
import { OwnerLock } from './owner-lock.ts';

export interface ClaimLoopOptions {
  /** the owner lock's namespace and its connection's `application_name` */
  namespace: number;
  connectionName: string;
  pollMs: number;
  /** make due what owners whose lock is free held (at start and every poll) */
  releaseOrphans(): Promise<unknown>;
  /** claim what is due, as `owner`, and start it */
  scan(owner: number): Promise<void>;
  /** the lock connection broke: what `owner` holds goes to the others */
  onLost(owner: number, err: unknown): void;
  /** what failed, in the log: `${what} scan failed`, `${what} tick failed` */
  what: string;
  log(err: unknown, msg: string): void;
}

export class ClaimLoop {
  private readonly lock: OwnerLock;
  private timer: NodeJS.Timeout | null = null;
  private scanning: Promise<void> | null = null;
  private rescan = false;
  private ticking: Promise<void> | null = null;
  private halted = false;

  constructor(db: Db, private readonly o: ClaimLoopOptions) {
    this.lock = new OwnerLock(db, o.namespace, o.connectionName, (owner, err) => o.onLost(owner, err));
  }

  /** The owner id whose lock is held (null while none is: nothing is claimed then). */
  get owner(): number | null {
    return this.lock.owner;
  }

  /** True once `stop` was called. */
  get stopping(): boolean {
    return this.halted;
  }

  /** Take an owner id and its lock, make due what owners that are gone held, then poll and look for work. */
  async start(): Promise<void> {
    this.halted = false;
    await this.lock.acquire();
    await this.o.releaseOrphans();
    this.timer = setInterval(() => this.tick(), this.o.pollMs);
    this.timer.unref();
    this.wake();
  }

  /** Stop polling and claiming; wait for the tick and the scan under way, then `drain` (what is in hand), then let go of the lock. */
  async stop(drain: () => Promise<unknown>): Promise<void> {
    this.halted = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.ticking;
    await this.scanning;
    await drain();
    await this.lock.release();
  }

  /** Look for work now. */
  wake(): void {
    if (this.halted || this.lock.owner === null) return;
    if (this.scanning) {
      this.rescan = true;
      return;
    }
    this.scanning = (async () => {
      const owner = this.lock.owner;
      if (owner !== null) await this.o.scan(owner);
    })()
      .catch((err) => this.o.log(err, `${this.o.what} scan failed`))
      .finally(() => {
        this.scanning = null;
        if (this.rescan) {
          this.rescan = false;
          this.wake();
        }
      });
  }

  /** Every `pollMs`: take a new lock if the last one was lost, make due what owners that are gone held, look for work. */
  private tick(): void {
    if (this.halted || this.ticking) return;
    this.ticking = (async () => {
      if (this.lock.owner === null) await this.lock.acquire();
      await this.o.releaseOrphans();
    })()
      .catch((err) => this.o.log(err, `${this.o.what} tick failed`))
      .finally(() => {
        this.ticking = null;
        this.wake();
      });
  }
}
