/**
 * A process's liveness, as other servers of the database can see it: an owner id, random per acquisition, and
 * a session-level advisory lock (`namespace`, owner) held on a connection of its own. What a process leases to
 * its owner id (operations, webhook deliveries) another server takes over at once when that lock is free: the
 * process died (`kill -9` closes its connections) or its lock connection broke. When the connection breaks,
 * `onLost` is told which owner id is gone; the holder then claims nothing as that owner and acquires a new one.
 */
import { randomInt } from 'node:crypto';
import type { Db, DbSession } from '../db/index.ts';
import { releaseOwnerLock, tryOwnerLock } from '../store/owner-locks.ts';

export class OwnerLock {
  private held: { owner: number; session: DbSession } | null = null;

  constructor(
    private readonly db: Db,
    /** the lock's first key: one per kind of lease (operations, deliveries) */
    private readonly namespace: number,
    /** the connection's `application_name` */
    private readonly connectionName: string,
    private readonly onLost: (owner: number, err: unknown) => void,
  ) {}

  /** The owner id whose lock is held, or null while none is. */
  get owner(): number | null {
    return this.held?.owner ?? null;
  }

  /** A new owner id whose lock this holds on a connection of its own. */
  async acquire(): Promise<number> {
    const session = await this.db.connection(this.connectionName);
    try {
      let owner = randomInt(1, 2 ** 31 - 1);
      // another live holder with the same id (one chance in two billion): draw again
      while (!(await tryOwnerLock(session, this.namespace, owner))) owner = randomInt(1, 2 ** 31 - 1);
      session.onLost((err) => {
        if (this.held?.owner !== owner) return;
        this.held = null;
        this.onLost(owner, err);
      });
      this.held = { owner, session };
      return owner;
    } catch (e) {
      await session.close();
      throw e;
    }
  }

  /** Let go of the lock and its connection (what is leased to the owner becomes free for the others). */
  async release(): Promise<void> {
    const held = this.held;
    this.held = null;
    if (!held) return;
    await releaseOwnerLock(held.session, this.namespace, held.owner).catch(() => {});
    await held.session.close();
  }
}
