/**
 * Injected faults of the simulated host: what a test sets (in-process or over `POST /sim/faults`) to make the
 * host misbehave as a real one does, without stopping the process.
 *
 * A fault applies to the calls whose key matches its `method` (every dstack route when `method` is absent):
 * the key of `/prpc/<M>` is `<M>` (legacy `Teepod.` prefix stripped), of `/guest/<M>` is `guest.<M>`, of
 * `/logs` is `logs`; the key `boot` is the next VM boot (kind `error`: it fails; kind `hang`: it stays where
 * it is, never `done`, until the fault is cleared or the VM stops; never matched by a fault without `method`). Each application uses one of its `times`; without `times` it lasts until cleared.
 */

export type FaultKind = 'error' | 'latency' | 'status' | 'drop' | 'hang';
export const FAULT_KINDS: readonly FaultKind[] = ['error', 'latency', 'status', 'drop', 'hang'];

/** When a fault acts: before the call takes effect (default) or after it did, in place of its answer. */
export type FaultStage = 'before' | 'after';

export interface FaultSpec {
  kind: FaultKind;
  /** Call key (see above); absent = every dstack route. */
  method?: string;
  /** kind `error`: the pRPC error message (HTTP 400 `{"error"}`); kind `status`: the response body. */
  error?: string;
  /** kind `latency`: added delay in ms. */
  ms?: number;
  /** kind `status`: the HTTP status, 500..599 (default 500). */
  status?: number;
  /** How many calls it applies to; absent = until cleared. */
  times?: number;
  /** Act after the call took effect (its answer is replaced, lost or withheld) instead of before. */
  after?: boolean;
}

export interface Fault {
  id: number;
  kind: FaultKind;
  method: string | null;
  error: string | null;
  ms: number | null;
  status: number | null;
  /** Applications left; null = until cleared. */
  remaining: number | null;
  stage: FaultStage;
}

export const normalizeMethod = (method: string): string => method.replace(/^Teepod\./, '');

export class FaultTable {
  private faults: Fault[] = [];
  private nextId = 1;
  /** Requests held by a `hang` fault, released when that fault is cleared (or the host closes). */
  private readonly held = new Map<number, Set<() => void>>();

  add(spec: FaultSpec): Fault {
    const fault: Fault = {
      id: this.nextId++,
      kind: spec.kind,
      method: spec.method === undefined ? null : normalizeMethod(spec.method),
      error: spec.error ?? null,
      ms: spec.kind === 'latency' ? Math.max(0, spec.ms ?? 0) : null,
      status: spec.kind === 'status' ? (spec.status ?? 500) : null,
      remaining: spec.times === undefined ? null : spec.times,
      stage: spec.after ? 'after' : 'before',
    };
    this.faults.push(fault);
    return fault;
  }

  list(): Fault[] {
    return this.faults.map((f) => ({ ...f }));
  }

  /** Clears the faults `which` selects (all by default); returns how many were cleared. */
  clear(which: (f: Fault) => boolean = () => true): number {
    const gone = this.faults.filter(which);
    this.faults = this.faults.filter((f) => !which(f));
    for (const f of gone) this.release(f.id);
    return gone.length;
  }

  /** Number of requests a `hang` fault holds right now. */
  heldCount(): number {
    let n = 0;
    for (const set of this.held.values()) n += set.size;
    return n;
  }

  /** Releases every held request (host closing). */
  releaseAll(): void {
    for (const id of [...this.held.keys()]) this.release(id);
  }

  /**
   * Consumes the first fault of `kind` matching `key` at `stage` (insertion order). A fault without `method`
   * matches every key but `boot`.
   */
  take(kind: FaultKind, key: string, stage: FaultStage = 'before'): Fault | undefined {
    const fault = this.faults.find((f) => f.kind === kind && f.stage === stage && this.matches(f, key));
    if (fault) this.use(fault);
    return fault;
  }

  /** Consumes every latency fault matching `key` at `stage`; returns the summed delay. */
  takeLatency(key: string, stage: FaultStage): number {
    let ms = 0;
    for (const f of this.faults.filter((x) => x.kind === 'latency' && x.stage === stage && this.matches(x, key))) {
      ms += f.ms ?? 0;
      this.use(f);
    }
    return ms;
  }

  /** Resolves when `fault` (a `hang`) is cleared, or at once if it already was. */
  hold(fault: Fault): Promise<void> {
    if (!this.faults.some((f) => f.id === fault.id)) return Promise.resolve();
    return new Promise((resolve) => {
      let set = this.held.get(fault.id);
      if (!set) this.held.set(fault.id, (set = new Set()));
      set.add(resolve);
    });
  }

  private matches(f: Fault, key: string): boolean {
    if (f.remaining !== null && f.remaining <= 0) return false;
    return f.method === null ? key !== 'boot' : f.method === key;
  }

  private use(f: Fault): void {
    if (f.remaining === null) return;
    f.remaining -= 1;
    // A used-up hang stays until cleared: the calls it holds wait for that.
    if (f.remaining <= 0 && f.kind !== 'hang') this.faults = this.faults.filter((x) => x !== f);
  }

  private release(id: number): void {
    const set = this.held.get(id);
    this.held.delete(id);
    for (const resolve of set ?? []) resolve();
  }
}
