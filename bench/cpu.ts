/**
 * CPU time spent by the processes of a bench part (Linux `/proc`; elsewhere nothing is measured): the bench's
 * own process (servers and load generator, every thread), a PostgreSQL cluster (its postmaster and every process
 * it started, including those that ended meanwhile) and the simulated host's process. It shows where a part's CPU
 * goes, and what a rate can reach on this machine: CPU ms per pair × pairs/s cannot exceed the CPUs there are.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';

/** Linux reports process times in USER_HZ ticks, which is 100 on every architecture Linux runs on. */
const TICK_MS = 10;

export interface CpuGroups {
  /** the bench's process */
  self: true;
  /** the postmaster of the cluster the server uses */
  postmaster?: number;
  /** the simulated host's process, when it has its own */
  sim?: number;
}

export interface CpuSpent {
  benchMs: number;
  postgresMs: number | null;
  simMs: number | null;
}

interface ProcTimes {
  ppid: number;
  /** utime + stime of the process */
  own: number;
  /** cutime + cstime: what its ended, reaped children used */
  reaped: number;
}

function procTimes(pid: number): ProcTimes | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // fields after the command name, which is in parentheses and may contain spaces
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(f[1]), own: Number(f[11]) + Number(f[12]), reaped: Number(f[13]) + Number(f[14]) };
  } catch {
    return null;
  }
}

/** Ticks used by `pid` and every process below it, those that ended included (once reaped). */
function treeTicks(pid: number): number | null {
  const root = procTimes(pid);
  if (!root) return null;
  let ticks = root.own + root.reaped;
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const t = procTimes(Number(name));
    if (!t) continue;
    const list = children.get(t.ppid) ?? [];
    list.push(Number(name));
    children.set(t.ppid, list);
  }
  const walk = (p: number) => {
    for (const c of children.get(p) ?? []) {
      const t = procTimes(c);
      if (t) ticks += t.own + t.reaped;
      walk(c);
    }
  };
  walk(pid);
  return ticks;
}

/** The parent of a process (the postmaster of a backend), or null. */
export function parentOf(pid: number): number | null {
  return procTimes(pid)?.ppid ?? null;
}

/** Start measuring; the function returned says how much CPU each group used since. */
export function cpuMeter(groups: CpuGroups): () => CpuSpent {
  const linux = existsSync('/proc/self/stat');
  const read = () => ({
    bench: process.cpuUsage(),
    postgres: linux && groups.postmaster ? treeTicks(groups.postmaster) : null,
    sim: linux && groups.sim ? treeTicks(groups.sim) : null,
  });
  const start = read();
  return () => {
    const end = read();
    const bench = process.cpuUsage(start.bench);
    const diff = (a: number | null, b: number | null) => (a === null || b === null ? null : (b - a) * TICK_MS);
    return {
      benchMs: (bench.user + bench.system) / 1000,
      postgresMs: diff(start.postgres, end.postgres),
      simMs: diff(start.sim, end.sim),
    };
  };
}
