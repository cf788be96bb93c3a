/**
 * The fuzz loop shared by `npm run fuzz` (fuzz/run.ts) and the CI slice (test/fuzz/): per target, a corpus
 * (seeds, then every input whose feedback signature is new), inputs drawn from the target's structure-aware
 * generator or made by mutating corpus entries, and, for targets with a `session`, a share of inputs fed into one
 * long-lived instance (recreated every `sessionLength` inputs) so state builds up across inputs.
 *
 * A failure (an exception escaping the target, OracleError included) is minimised (records dropped, bytes cut)
 * while it still fails the same way, then reported; the runner saves it under fuzz/crashes/. A session failure is
 * saved as the concatenation of the session's inputs, which replays through `run` from scratch.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { seededRng } from '../protocols/util/rng.js';
import { mutateBytes, mutateRecords, type FuzzRng } from './lib/mutate.js';
import { concatBytes, decodeRecords, encodeRecords } from './lib/records.js';
import type { FuzzTarget, Session } from './lib/target.js';

export interface EngineOptions {
  seed: number;
  /** Share of inputs taken from the generator (when the target has one). Default 0.35. */
  generatorShare?: number;
  /** Share of inputs fed into the long-lived session (targets with `session`). Default 0.3. */
  sessionShare?: number;
  /** Inputs fed to one session before it is rebuilt (bounds the replay file). Default 200. */
  sessionLength?: number;
  /** Corpus cap. Default 2000. */
  maxCorpus?: number;
  /** Runs spent minimising a failure. Default 300. */
  minimizeRuns?: number;
  /** An input that takes longer than this (ms) is a failure (a hang or an algorithmic blow-up). Default 2000. */
  slowMs?: number;
  /**
   * Told about every input before it runs (the runner's hang watchdog keeps it in shared memory): 'run' for a
   * fresh run, 'session' for an input appended to the current session ('new-session' first when one is built).
   */
  onInput?: (kind: 'run' | 'new-session' | 'session', input: Uint8Array) => void;
  /**
   * Failures already reported to their owner (fuzz/regressions/known-failures.json, see `knownBugs()`): an error
   * whose first line matches one is counted in `knownHits` and fuzzing goes on, instead of stopping there again.
   */
  knownBugs?: readonly RegExp[];
}

/** The `match` patterns of fuzz/regressions/known-failures.json. */
export function knownBugs(): RegExp[] {
  const url = new URL('./regressions/known-failures.json', import.meta.url);
  const known = JSON.parse(readFileSync(url, 'utf8')) as Record<string, { match: string }>;
  return Object.values(known).map((k) => new RegExp(k.match));
}

export interface Failure {
  readonly target: string;
  readonly input: Uint8Array;
  readonly error: string;
  readonly fromSession: boolean;
}

function describe(e: unknown): string {
  if (e instanceof Error) return `${e.name}${(e as { code?: string }).code ? ` [${(e as { code?: string }).code}]` : ''}: ${e.message}\n${(e.stack ?? '').split('\n').slice(1, 12).join('\n')}`;
  return `thrown non-Error: ${String(e)}`;
}

/** The first line of an error description: what minimisation must preserve. */
function headline(error: string): string {
  return error.split('\n')[0]!.replace(/[0-9]+/g, '#');
}

/** Run `input` through `target.run`; the error description, or undefined when it passed. */
export function runOnce(target: FuzzTarget, input: Uint8Array): { error: string | undefined; signature: string | undefined } {
  try {
    const s = target.run(input);
    return { error: undefined, signature: typeof s === 'string' ? s : undefined };
  } catch (e) {
    return { error: describe(e), signature: undefined };
  }
}

/** Shrink a failing input while it fails with the same headline. */
export function minimize(target: FuzzTarget, input: Uint8Array, error: string, budget: number): Uint8Array {
  const want = headline(error);
  let runs = 0;
  const fails = (x: Uint8Array): boolean => {
    runs++;
    const r = runOnce(target, x);
    return r.error !== undefined && headline(r.error) === want;
  };
  let best = input;
  if (target.format === 'records') {
    let recs = decodeRecords(best);
    for (let i = recs.length - 1; i >= 0 && runs < budget; i--) {
      if (target.name === 'tcp-states' && i === 0) break; // the scenario record
      const cand = [...recs.slice(0, i), ...recs.slice(i + 1)];
      const enc = encodeRecords(cand);
      if (fails(enc)) {
        recs = cand;
        best = enc;
      }
    }
    return best;
  }
  for (let chunk = Math.max(1, best.length >> 1); chunk >= 1 && runs < budget; chunk >>= 1) {
    for (let at = 0; at + chunk <= best.length && runs < budget; ) {
      const cand = concatBytes([best.subarray(0, at), best.subarray(at + chunk)]);
      if (fails(cand)) best = cand;
      else at += chunk;
    }
  }
  return best;
}

export class TargetFuzzer {
  readonly corpus: Uint8Array[] = [];
  /** Hashes of the feedback signatures seen (numbers, so the set stays small over a long run). */
  private readonly seen = new Set<number>();
  private readonly rng: FuzzRng;
  private batch: Uint8Array[] = [];
  private session: Session | undefined;
  private sessionHistory: Uint8Array[] = [];
  execs = 0;
  sessionExecs = 0;
  sessionsBuilt = 0;
  ms = 0;
  /** Largest `accountedBytes()` any session reported. */
  maxAccounted = 0;
  failure: Failure | undefined;
  private seedsDone = false;
  private seeds: Uint8Array[] = [];
  private readonly o: Required<Omit<EngineOptions, 'onInput'>>;
  /** Inputs that hit a known bug (see EngineOptions.knownBugs). */
  knownHits = 0;
  private readonly onInput: EngineOptions['onInput'];

  constructor(readonly target: FuzzTarget, options: EngineOptions) {
    this.o = {
      seed: options.seed,
      generatorShare: options.generatorShare ?? 0.35,
      sessionShare: options.sessionShare ?? 0.3,
      sessionLength: options.sessionLength ?? 200,
      maxCorpus: options.maxCorpus ?? 2000,
      minimizeRuns: options.minimizeRuns ?? 300,
      slowMs: options.slowMs ?? 2000,
      knownBugs: options.knownBugs ?? [],
    };
    this.onInput = options.onInput;
    let h = options.seed >>> 0;
    for (let i = 0; i < target.name.length; i++) h = Math.imul(h ^ target.name.charCodeAt(i), 0x01000193) >>> 0;
    this.rng = seededRng(h);
  }

  get signatures(): number {
    return this.seen.size;
  }

  /** Run up to `n` inputs or until `deadline` (ms, performance.now()); stops at the first failure. */
  step(n: number, deadline = Infinity): Failure | undefined {
    const t0 = performance.now();
    if (!this.seedsDone) {
      this.seedsDone = true;
      this.seeds = this.target.seeds();
      for (const s of this.seeds) {
        if (this.exec(s)) return this.finish(t0);
        this.corpus.push(s);
      }
    }
    for (let i = 0; i < n && this.failure === undefined; i++) {
      if ((i & 7) === 0 && performance.now() > deadline) break;
      const input = this.next();
      if (this.target.session !== undefined && this.rng.nextFloat() < (this.target.sessionShare ?? this.o.sessionShare)) {
        if (this.execSession(input)) break;
      } else if (this.exec(input)) break;
    }
    return this.finish(t0);
  }

  private finish(t0: number): Failure | undefined {
    this.ms += performance.now() - t0;
    return this.failure;
  }

  private next(): Uint8Array {
    const t = this.target;
    const r = this.rng.nextFloat();
    if (t.generator !== undefined && r < this.o.generatorShare) {
      if (this.batch.length === 0) this.batch = fc.sample(t.generator(), { seed: this.rng.nextU32() | 0, numRuns: 64 });
      return this.batch.pop()!;
    }
    if (this.corpus.length === 0 || r > 0.97) {
      const out = new Uint8Array(this.rng.nextInt(Math.min(t.maxLen, 256)));
      for (let i = 0; i < out.length; i++) out[i] = this.rng.nextU32() & 0xff;
      return t.format === 'records' ? encodeRecords([{ tag: this.rng.nextU32() & 0xff, data: out }]) : out;
    }
    const base = this.corpus[this.rng.nextInt(this.corpus.length)]!;
    const other = this.corpus[this.rng.nextInt(this.corpus.length)];
    return t.format === 'records'
      ? mutateRecords(this.rng, base, other, t.maxLen, t.maxRecords ?? 16)
      : mutateBytes(this.rng, base, other, t.maxLen);
  }

  private isKnown(error: string): boolean {
    const line = error.split('\n')[0]!;
    if (!this.o.knownBugs.some((re) => re.test(line))) return false;
    this.knownHits++;
    return true;
  }

  private keep(input: Uint8Array, signature: string | undefined): void {
    if (signature === undefined) return;
    let h = 0x811c9dc5;
    for (let i = 0; i < signature.length; i++) h = Math.imul(h ^ signature.charCodeAt(i), 0x01000193);
    if (this.seen.has(h)) return;
    if (this.seen.size < 1_000_000) this.seen.add(h);
    if (this.corpus.length < this.o.maxCorpus) this.corpus.push(input);
    else this.corpus[this.seeds.length + this.rng.nextInt(this.corpus.length - this.seeds.length)] = input;
  }

  /** Returns true on failure. */
  private exec(input: Uint8Array): boolean {
    this.execs++;
    this.onInput?.('run', input);
    const t0 = performance.now();
    let r = runOnce(this.target, input);
    const took = performance.now() - t0;
    if (r.error === undefined && took > this.o.slowMs) r = { error: `SlowInput: one input took ${took.toFixed(0)} ms (limit ${this.o.slowMs} ms)`, signature: undefined };
    if (r.error === undefined) {
      this.keep(input, r.signature);
      return false;
    }
    if (this.isKnown(r.error)) return false;
    if (r.error.startsWith('SlowInput')) {
      this.failure = { target: this.target.name, input, error: r.error, fromSession: false };
      return true;
    }
    const small = minimize(this.target, input, r.error, this.o.minimizeRuns);
    const again = runOnce(this.target, small);
    this.failure = { target: this.target.name, input: small, error: again.error ?? r.error, fromSession: false };
    return true;
  }

  private execSession(input: Uint8Array): boolean {
    this.execs++;
    this.sessionExecs++;
    try {
      if (this.session === undefined || this.sessionHistory.length >= this.o.sessionLength) {
        this.onInput?.('new-session', input);
        this.session = this.target.session!();
        this.sessionHistory = [];
        this.sessionsBuilt++;
      }
      this.sessionHistory.push(input);
      this.onInput?.('session', input);
      const t0 = performance.now();
      const sig = this.session.feed(input);
      const took = performance.now() - t0;
      if (took > this.o.slowMs) throw new Error(`SlowInput: one input took ${took.toFixed(0)} ms in a session (limit ${this.o.slowMs} ms)`);
      this.maxAccounted = Math.max(this.maxAccounted, this.session.accountedBytes());
      this.keep(input, typeof sig === 'string' ? sig : undefined);
      return false;
    } catch (e) {
      const history = concatBytes(this.sessionHistory);
      this.session = undefined;
      if (this.isKnown(describe(e))) return false;
      const replay = runOnce(this.target, history);
      const error = replay.error ?? `${describe(e)}\n(note: did not reproduce through run() on the concatenated history)`;
      const small = replay.error !== undefined ? minimize(this.target, history, replay.error, this.o.minimizeRuns) : history;
      this.failure = { target: this.target.name, input: small, error, fromSession: true };
      return true;
    }
  }
}

/** Write a failure as <dir>/<target>-<hash>.bin plus a .txt with the error. Returns the .bin path. */
export function saveFailure(dir: string, f: Failure, context: string): string {
  mkdirSync(dir, { recursive: true });
  const hash = createHash('sha256').update(f.input).digest('hex').slice(0, 16);
  const base = join(dir, `${f.target}-${hash}`);
  writeFileSync(`${base}.bin`, f.input);
  writeFileSync(
    `${base}.txt`,
    `target: ${f.target}\n${context}\nreplay: node --import tsx fuzz/run.ts --replay ${base}.bin\n${f.fromSession ? 'found in a long-lived session; saved as the concatenated history\n' : ''}\n${f.error}\n`,
  );
  return `${base}.bin`;
}
