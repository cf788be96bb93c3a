/**
 * glibc's heap trimming against a receive path that allocates a fresh 64 KiB slab per 64 KiB received (TCP's
 * receive queue; Node's own net receive does the same per read). With glibc's defaults, a freed slab at the top of
 * the heap lets the top pass M_TRIM_THRESHOLD (128 KiB, or twice the largest mmapped chunk freed so far), the heap
 * is cut back with brk, and the next slab faults its 16 pages in again: 25-100 minor faults per MiB received, and
 * then the collector's mark-compacts on top. Whether a process falls into it depends on where its heap's top happens
 * to sit. Measured on the bench veth (docs/performance-targets.md, "glibc's trimming and byway's receive"): TCP bulk
 * receive over TAP 4.1-7.1 Gbit/s with 39-61 faults per MiB, 11.2-12.4 with the threshold at 64 MiB (2.5-3 per MiB);
 * over AF_PACKET 4.9 and 8.1 in two runs of three, 12.2-12.9 in three of three with it.
 *
 * So the first load of the native addon (a native driver or the poll loop's native turn) raises the threshold for
 * the process to BYWAY_MALLOC_TRIM_THRESHOLD bytes, default 64 MiB: up to that much freed memory at the top of the
 * heap stays with the process instead of going back to the kernel. `off` (or `0`) leaves glibc's default. glibc
 * only (mallopt); with another C library nothing is done. Side effect of any mallopt of it: glibc stops moving its
 * mmap threshold with the sizes freed (it stays where it is when the threshold is set, 128 KiB in a young process).
 * mallocTuning() says what was done.
 */

export const DEFAULT_MALLOC_TRIM_THRESHOLD = 64 * 1024 * 1024;

export interface MallocTuning {
  /** The threshold set, in bytes; undefined when none was. */
  readonly trimThreshold: number | undefined;
  readonly applied: boolean;
  /** Why not, or what was done. */
  readonly reason: string;
}

let state: MallocTuning = { trimThreshold: undefined, applied: false, reason: 'the native addon is not loaded' };

/** What the addon's load did to glibc's trim threshold. */
export function mallocTuning(): MallocTuning {
  return state;
}

/** Apply BYWAY_MALLOC_TRIM_THRESHOLD (from `env`) through the addon; once per load (drivers/native/index.ts). */
export function applyMallocTuning(addon: { mallocTrimThreshold(bytes: number): number }, env: NodeJS.ProcessEnv = process.env): MallocTuning {
  const raw = env['BYWAY_MALLOC_TRIM_THRESHOLD'];
  let bytes = DEFAULT_MALLOC_TRIM_THRESHOLD;
  if (raw !== undefined && raw.trim() !== '') {
    const v = raw.trim();
    if (v === 'off' || v === '0') {
      state = { trimThreshold: undefined, applied: false, reason: `BYWAY_MALLOC_TRIM_THRESHOLD=${v}: glibc's default kept` };
      return state;
    }
    if (!/^\d+$/.test(v) || Number(v) > 0x7fffffff) {
      state = { trimThreshold: undefined, applied: false, reason: `BYWAY_MALLOC_TRIM_THRESHOLD=${JSON.stringify(raw)} is not a byte count from 0 to 2147483647 or 'off': glibc's default kept` };
      process.emitWarning(state.reason, { code: 'BYWAY_MALLOC_TRIM_THRESHOLD' });
      return state;
    }
    bytes = Number(v);
  }
  const r = addon.mallocTrimThreshold(bytes);
  state =
    r === 1
      ? { trimThreshold: bytes, applied: true, reason: `glibc's M_TRIM_THRESHOLD set to ${bytes} bytes` }
      : r === -1
        ? { trimThreshold: undefined, applied: false, reason: 'not glibc: nothing done' }
        : { trimThreshold: undefined, applied: false, reason: `mallopt(M_TRIM_THRESHOLD, ${bytes}) refused` };
  return state;
}
