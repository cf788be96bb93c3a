/**
 * What a fuzz target is. A target takes bytes (a single buffer, or a records.ts sequence) and must never throw;
 * it checks its oracles itself and throws `OracleError` when one fails. Any other exception that escapes is a
 * finding too (the code under test threw on wire input). A target is deterministic: the same bytes always give
 * the same run, so a saved crash file replays.
 */
import type fc from 'fast-check';

export class OracleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OracleError';
  }
}

export function check(cond: unknown, message: string | (() => string)): asserts cond {
  if (!cond) throw new OracleError(typeof message === 'string' ? message : message());
}

/** A long-lived instance (the receive path's long run): feed inputs one after another into the same stack. */
export interface Session {
  /** Returns a feedback signature like `run`. */
  feed(input: Uint8Array): string | void;
  /** Bytes the code under test says it holds (its own accounting), for the memory oracle. */
  accountedBytes(): number;
}

export interface FuzzTarget {
  readonly name: string;
  readonly description: string;
  /** 'records' inputs get record-aware mutation (see mutate.ts). */
  readonly format: 'bytes' | 'records';
  /** Largest input (bytes) or, for records, largest record. */
  readonly maxLen: number;
  /** For records: most records in a generated or mutated input. */
  readonly maxRecords?: number;
  /** The seed corpus. */
  seeds(): Uint8Array[];
  /** Structure-aware generator (fast-check), mixed with mutation of the corpus. */
  generator?(): fc.Arbitrary<Uint8Array>;
  /**
   * Run one input from scratch. Throws on failure. May return a feedback signature: an input whose signature was
   * not seen before joins the corpus (a cheap stand-in for coverage feedback).
   */
  run(input: Uint8Array): string | void;
  /** A fresh long-lived session; `session().feed(a); feed(b)` behaves like `run(concat(a, b))`. */
  session?(): Session;
  /** Share of inputs that go to the session rather than a fresh `run` (default: the engine's). */
  readonly sessionShare?: number;
}

/** Structural equality for reprs: numbers, strings, booleans, undefined, arrays, Uint8Arrays, plain objects. */
export function sameValue(a: unknown, b: unknown, path = ''): string | undefined {
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    if (!(a instanceof Uint8Array) || !(b instanceof Uint8Array)) return `${path}: one side is not bytes`;
    if (a.length !== b.length) return `${path}: ${a.length} bytes vs ${b.length}`;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return `${path}[${i}]: ${a[i]} vs ${b[i]}`;
    return undefined;
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b)) return `${path}: one side is not an array`;
    if (a.length !== b.length) return `${path}: length ${a.length} vs ${b.length}`;
    for (let i = 0; i < a.length; i++) {
      const d = sameValue(a[i], b[i], `${path}[${i}]`);
      if (d) return d;
    }
    return undefined;
  }
  if (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const k of keys) {
      const d = sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}.${k}`);
      if (d) return d;
    }
    return undefined;
  }
  return Object.is(a, b) ? undefined : `${path}: ${String(a)} vs ${String(b)}`;
}

export function checkSame(a: unknown, b: unknown, what: string): void {
  const d = sameValue(a, b);
  if (d !== undefined) throw new OracleError(`${what} differs at ${d}`);
}
