/**
 * This process's garbage collections and page faults, counted from when the counter is made: `read()` gives the
 * totals so far, and two reads subtracted (`gcDelta`) give a window's. Load-independent figures for a receiver:
 * a collection's count and kind depend on what the process allocates, not on how busy the machine is.
 *
 * Kinds are perf_hooks' (NODE_PERFORMANCE_GC_*): 1 a scavenge (the young generation), 4 a mark-compact (the whole
 * heap), 8 the incremental-marking work that precedes one (steps and its finalisation), 16 weak callbacks. A
 * mark-compact started incrementally shows as one kind-8 entry and one kind-4 entry.
 */
import { PerformanceObserver } from 'node:perf_hooks';

export interface GcFigures {
  scavenges: number;
  scavengeMs: number;
  markCompacts: number;
  markCompactMs: number;
  /** Incremental marking (kind 8): the steps and finalisation of a mark-compact started incrementally. */
  incremental: number;
  incrementalMs: number;
  /** Minor page faults of the whole process (getrusage): fresh memory touched for the first time. */
  minorFaults: number;
}

export function gcKindOf(e: object): number {
  return ((e as { detail?: { kind?: number } }).detail?.kind ?? 0) | 0;
}

export class GcCounter {
  private readonly totals: GcFigures = { scavenges: 0, scavengeMs: 0, markCompacts: 0, markCompactMs: 0, incremental: 0, incrementalMs: 0, minorFaults: 0 };
  private readonly obs: PerformanceObserver;

  constructor() {
    this.obs = new PerformanceObserver((list) => {
      const t = this.totals;
      for (const e of list.getEntries()) {
        const k = gcKindOf(e);
        if (k === 1) {
          t.scavenges++;
          t.scavengeMs += e.duration;
        } else if (k === 4) {
          t.markCompacts++;
          t.markCompactMs += e.duration;
        } else if (k === 8) {
          t.incremental++;
          t.incrementalMs += e.duration;
        }
      }
    });
    this.obs.observe({ entryTypes: ['gc'] });
  }

  /**
   * The totals so far. PerformanceObserver delivers entries asynchronously (after the collection, in a later
   * turn of the event loop): a read right after a collection may miss it.
   */
  read(): GcFigures {
    return { ...this.totals, minorFaults: process.resourceUsage().minorPageFault };
  }

  stop(): void {
    this.obs.disconnect();
  }
}

/** b - a, field by field, times rounded to 0.1 ms. */
export function gcDelta(a: GcFigures, b: GcFigures): GcFigures {
  const out = {} as GcFigures;
  for (const k of Object.keys(b) as (keyof GcFigures)[]) out[k] = Math.round((b[k] - a[k]) * 10) / 10;
  return out;
}
