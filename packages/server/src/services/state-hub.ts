/**
 * The state watches' one source of CVM states (`GET /cvms/{id}/state` as an event stream): however many
 * streams are open, the database sees one LISTEN connection per server and a read of a CVM's state only
 * when that state changed.
 *
 * `db/migrations/008_state_notify.sql`'s triggers NOTIFY `cvm_state` with a CVM's id when a committed
 * change moves what its state shows, whoever wrote it (an API call, the worker, the runtime reconciler, on
 * this server or another one on the same database). The hub LISTENs on a connection of its own; for a
 * notified CVM that someone here watches, it reads the state once and hands it to every watcher of that CVM.
 * Reads are batched: the CVMs notified while a read is in flight are read together by the next one, so a
 * burst of changes costs at most one query at a time, and never more queries than notifications.
 *
 * - A new watch is read at once (in the same batch as the others due).
 * - If the LISTEN connection drops, the hub reconnects with exponential backoff (100 ms doubling to 5 s)
 *   and then reads every watched CVM again: whatever changed meanwhile is seen.
 * - Every `refreshMs` (30 s) the hub reads every watched CVM once, in one query: a safety net for a
 *   connection that died without the hub noticing (a half-open TCP connection is only found by its
 *   keep-alive) and for changes written with triggers disabled (a restore with
 *   `session_replication_role = replica`). One query per interval, whatever the number of streams.
 *
 * The same connection carries the server's other wake-ups (`listen`): the webhook deliverer hears of queued
 * deliveries on it. Such a listener is called at each notification of its channel, and once after every
 * reconnect (what was notified while nobody listened is not announced again).
 */
import type { Db, DbSession } from '../db/index.ts';
import { cvmStatesByIds, listenForCvmStates, CVM_STATE_CHANNEL, type CvmStateById } from '../store/cvms.ts';

/** A CVM's state as a watch gets it: its state columns, active operation, workspace and whether it is deleted. */
export type WatchedState = CvmStateById;

/** The `application_name` of the LISTEN connection (what `pg_stat_activity` shows). */
export const STATE_HUB_CONNECTION = 'opencvm-state-hub';

export interface StateWatcher {
  /** a fresh read of the CVM's state; null when it no longer exists in the watcher's workspace */
  onState(state: WatchedState | null): void;
  /** the read failed */
  onError(err: unknown): void;
}

export interface StateHubOptions {
  /** every watched CVM is read again this often even without a notification (default 30 s) */
  refreshMs?: number;
  /** reconnect backoff after the LISTEN connection drops: first wait and cap (default 100 ms, 5 s) */
  reconnectMs?: { base: number; cap: number };
  log?: (msg: string, err?: unknown) => void;
}

interface Entry {
  workspaceId: number;
  watcher: StateWatcher;
}

/** Another channel the hub's connection LISTENs to. */
export interface ChannelListener {
  channel: string;
  /** subscribes a connection to `channel` (the store's LISTEN) */
  subscribe(session: DbSession): Promise<void>;
  /** at each notification on `channel`, and after each reconnect */
  wake(): void;
}

export class StateHub {
  /**
   * What the hub did (tests and the bench count with these). Each query is caused by at least one of: a
   * new watch, a notification of a watched CVM, a refresh tick, a reconnect; so `queries` never exceeds
   * `watches + notified + refreshes + connects`, however many streams watch.
   */
  readonly stats = {
    /** state queries made (each reads every CVM then due) */
    queries: 0,
    /** CVM rows those queries read */
    rows: 0,
    /** `watch` calls */
    watches: 0,
    /** notifications received (any CVM) */
    notifications: 0,
    /** notifications of a CVM watched here (each makes that CVM due) */
    notified: 0,
    /** refresh ticks that found something watched */
    refreshes: 0,
    /** LISTEN connections made (the first one, then each reconnect) */
    connects: 0,
  };
  private readonly watched = new Map<number, Set<Entry>>();
  private readonly listeners = new Map<string, ChannelListener>();
  private readonly due = new Set<number>();
  private reading = false;
  private scheduled = false;
  private session: DbSession | undefined;
  private stopped = false;
  private timers = new Set<NodeJS.Timeout>();
  private readonly refreshMs: number;
  private readonly reconnectMs: { base: number; cap: number };
  private readonly log: (msg: string, err?: unknown) => void;

  constructor(
    private readonly db: Db,
    opts: StateHubOptions = {},
  ) {
    this.refreshMs = opts.refreshMs ?? 30_000;
    this.reconnectMs = opts.reconnectMs ?? { base: 100, cap: 5_000 };
    this.log = opts.log ?? (() => {});
  }

  /** Also LISTEN to another channel (before `start`). */
  listen(l: ChannelListener): void {
    this.listeners.set(l.channel, l);
  }

  /** Connect and LISTEN. Resolves once changes are being received. */
  async start(): Promise<void> {
    this.stopped = false;
    await this.connect();
    this.every(this.refreshMs, () => this.refresh());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) {
      clearTimeout(t);
      clearInterval(t);
    }
    this.timers.clear();
    const s = this.session;
    this.session = undefined;
    await s?.close();
  }

  /**
   * Watch a CVM of a workspace: `watcher` gets its state now (a read made after this call) and after every
   * change. Returns the function that ends the watch.
   */
  watch(workspaceId: number, cvmId: number, watcher: StateWatcher): () => void {
    this.stats.watches++;
    const entry: Entry = { workspaceId, watcher };
    let set = this.watched.get(cvmId);
    if (!set) this.watched.set(cvmId, (set = new Set()));
    set.add(entry);
    this.markDue(cvmId);
    return () => {
      set.delete(entry);
      if (!set.size && this.watched.get(cvmId) === set) this.watched.delete(cvmId);
    };
  }

  /** How many CVMs are watched on this server. */
  get watchedCvms(): number {
    return this.watched.size;
  }

  /** How many watches of this CVM are open on this server. */
  watchers(cvmId: number): number {
    return this.watched.get(cvmId)?.size ?? 0;
  }

  private every(ms: number, fn: () => void) {
    const t = setInterval(fn, ms);
    t.unref();
    this.timers.add(t);
  }

  private refresh() {
    if (!this.watched.size) return;
    this.stats.refreshes++;
    this.readAll();
  }

  private readAll() {
    for (const id of this.watched.keys()) this.due.add(id);
    this.schedule();
  }

  private markDue(cvmId: number) {
    this.due.add(cvmId);
    this.schedule();
  }

  /** One read at a time; what became due meanwhile is read by the next one. */
  private schedule() {
    if (this.reading || this.scheduled || this.stopped || !this.due.size) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.read();
    });
  }

  private async read() {
    if (this.reading || this.stopped) return;
    const ids = [...this.due].filter((id) => this.watched.has(id));
    this.due.clear();
    if (!ids.length) return;
    this.reading = true;
    try {
      let rows: CvmStateById[];
      try {
        this.stats.queries++;
        rows = await cvmStatesByIds(this.db, ids);
      } catch (e) {
        if (this.stopped) return;
        this.log('state watch: reading CVM states failed', e);
        for (const id of ids) for (const entry of [...(this.watched.get(id) ?? [])]) entry.watcher.onError(e);
        return;
      }
      this.stats.rows += rows.length;
      const byId = new Map(rows.map((r) => [r.id, r]));
      for (const id of ids) {
        const row = byId.get(id) ?? null;
        for (const entry of [...(this.watched.get(id) ?? [])]) {
          // a watch sees its own workspace's CVM only
          entry.watcher.onState(row && row.workspace_id === entry.workspaceId ? row : null);
        }
      }
    } finally {
      this.reading = false;
      this.schedule();
    }
  }

  private async connect(): Promise<void> {
    const session = await this.db.connection(STATE_HUB_CONNECTION);
    session.onNotification((channel, payload) => {
      if (channel !== CVM_STATE_CHANNEL) return this.listeners.get(channel)?.wake();
      this.stats.notifications++;
      const id = Number(payload);
      if (!this.watched.has(id)) return;
      this.stats.notified++;
      this.markDue(id);
    });
    session.onLost((err) => {
      if (this.session !== session) return;
      this.session = undefined;
      if (this.stopped) return;
      this.log('state watch: the LISTEN connection was lost; reconnecting', err);
      this.reconnect(0);
    });
    try {
      await listenForCvmStates(session);
      for (const l of this.listeners.values()) await l.subscribe(session);
    } catch (e) {
      await session.close();
      throw e;
    }
    if (this.stopped) return void (await session.close());
    this.session = session;
    this.stats.connects++;
  }

  private reconnect(attempt: number) {
    const wait = Math.min(this.reconnectMs.cap, this.reconnectMs.base * 2 ** attempt);
    const t = setTimeout(async () => {
      this.timers.delete(t);
      if (this.stopped) return;
      try {
        await this.connect();
      } catch (e) {
        if (this.stopped) return;
        this.log('state watch: reconnecting the LISTEN connection failed; retrying', e);
        return this.reconnect(attempt + 1);
      }
      // changes committed while nobody listened were not announced: read everything watched
      this.readAll();
      for (const l of this.listeners.values()) l.wake();
    }, wait);
    t.unref();
    this.timers.add(t);
  }
}
