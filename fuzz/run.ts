/**
 * `npm run fuzz -- [options]`: fuzz byway's parsers and receive path (see docs/security.md).
 *
 *   --target a,b      targets to run (default: all; --list shows them)
 *   --seconds N       total wall-clock time, shared round-robin between the targets (default 60)
 *   --iterations N    instead of time: inputs per target
 *   --seed S          seed (default: from the clock; printed so a run can be repeated)
 *   --replay FILE...  run saved inputs through their target (named by the file's prefix, or --target)
 *   --crash-dir DIR   where failures are saved (default fuzz/crashes)
 *   --keep-going      after a failure, keep fuzzing the other targets
 *   --max-heap-mb N   fail if the heap after GC exceeds N MiB (default 1024)
 *   --hang-seconds N  an input still running after N s is a hang: saved like a crash (default 60)
 *   --stop-on-known   stop at failures listed in fuzz/regressions/known-failures.json too (default: count them)
 *
 * Prints execs/s per target every 5 s. On a failure: saves <target>-<hash>.bin and .txt and exits 1.
 * The fuzzing runs in a worker thread; the main thread is a watchdog: the worker copies each input (or, in a
 * long-lived session, the session's whole history) into shared memory before running it, so when an input hangs
 * the main thread can still save it, then terminates the worker.
 */
import { readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Worker, isMainThread, workerData } from 'node:worker_threads';
import { TargetFuzzer, knownBugs, runOnce, saveFailure, type Failure } from './engine.js';
import { TARGETS, targetByName, targetForFile } from './targets/index.js';
import type { FuzzTarget } from './lib/target.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

interface Args {
  targets: FuzzTarget[];
  seconds: number;
  iterations: number | undefined;
  seed: number;
  replay: string[];
  crashDir: string;
  keepGoing: boolean;
  maxHeapMb: number;
  hangSeconds: number;
  stopOnKnown: boolean;
  list: boolean;
}

function parseArgs(argv: string[]): Args {
  const here = dirname(fileURLToPath(import.meta.url));
  const a: Args = { targets: [...TARGETS], seconds: 60, iterations: undefined, seed: Date.now() % 0x7fffffff, replay: [], crashDir: join(here, 'crashes'), keepGoing: false, maxHeapMb: 1024, hangSeconds: 60, stopOnKnown: false, list: false };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    const v = (): string => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${k} needs a value`);
      return x;
    };
    if (k === '--target' || k === '-t') {
      a.targets = v().split(',').map((n) => {
        const t = targetByName(n.trim());
        if (!t) throw new Error(`unknown target ${n} (have: ${TARGETS.map((x) => x.name).join(', ')})`);
        return t;
      });
    } else if (k === '--seconds') a.seconds = Number(v());
    else if (k === '--iterations') a.iterations = Number(v());
    else if (k === '--seed') a.seed = Number(v());
    else if (k === '--crash-dir') a.crashDir = v();
    else if (k === '--keep-going') a.keepGoing = true;
    else if (k === '--max-heap-mb') a.maxHeapMb = Number(v());
    else if (k === '--hang-seconds') a.hangSeconds = Number(v());
    else if (k === '--stop-on-known') a.stopOnKnown = true;
    else if (k === '--list') a.list = true;
    else if (k === '--replay') {
      while (argv[i + 1] !== undefined && !argv[i + 1]!.startsWith('--')) a.replay.push(argv[++i]!);
    } else throw new Error(`unknown option ${k}`);
  }
  if (!(a.seconds > 0) || (a.iterations !== undefined && !(a.iterations > 0)) || !Number.isFinite(a.seed)) throw new Error('bad --seconds / --iterations / --seed');
  return a;
}

function replay(args: Args): number {
  let failed = 0;
  for (const file of args.replay) {
    const name = basename(file);
    const t = args.targets.length === 1 ? args.targets[0]! : targetForFile(name);
    if (!t) {
      console.error(`${file}: no target named by the file (use --target)`);
      failed++;
      continue;
    }
    const r = runOnce(t, new Uint8Array(readFileSync(file)));
    console.log(`${file} [${t.name}]: ${r.error === undefined ? 'passes' : `FAILS\n${r.error}`}`);
    if (r.error !== undefined) failed++;
  }
  return failed > 0 ? 1 : 0;
}

function heapMb(): number {
  gc();
  return process.memoryUsage().heapUsed / 1048576;
}

/** Shared with the watchdog: [heartbeat, target index, mode (0 run, 1 session), length] then the input bytes. */
const SHARED_BYTES = 16 * 1024 * 1024;

async function fuzzLoop(args: Args, shared: SharedArrayBuffer): Promise<number> {
  const head = new Int32Array(shared, 0, 4);
  const data = new Uint8Array(shared, 16);
  let current = 0;
  const onInput = (kind: 'run' | 'new-session' | 'session', input: Uint8Array): void => {
    Atomics.add(head, 0, 1);
    head[1] = current;
    if (kind === 'run') {
      head[2] = 0;
      const n = Math.min(input.length, data.length);
      data.set(input.subarray(0, n));
      head[3] = n;
    } else if (kind === 'new-session') {
      head[2] = 1;
      head[3] = 0;
    } else {
      const at = head[3]!;
      const n = Math.min(input.length, data.length - at);
      data.set(input.subarray(0, n), at);
      head[3] = at + n;
    }
  };
  console.log(`byway fuzz: seed ${args.seed}, targets ${args.targets.map((t) => t.name).join(', ')}, ${args.iterations !== undefined ? `${args.iterations} inputs each` : `${args.seconds} s`}`);
  const fuzzers = args.targets.map((t) => new TargetFuzzer(t, { seed: args.seed, onInput, knownBugs: args.stopOnKnown ? [] : knownBugs() }));
  const start = performance.now();
  const end = start + args.seconds * 1000;
  const baseHeap = heapMb();
  let lastReport = start;
  let peakHeap = baseHeap;
  const failures: Failure[] = [];
  const active = new Set(fuzzers);
  const report = (final: boolean): void => {
    const heap = heapMb();
    peakHeap = Math.max(peakHeap, heap);
    const secs = ((performance.now() - start) / 1000).toFixed(0);
    console.log(`[${secs}s] heap after GC ${heap.toFixed(1)} MiB (start ${baseHeap.toFixed(1)}, peak ${peakHeap.toFixed(1)})${final ? ' final' : ''}`);
    for (const f of fuzzers) {
      const rate = f.ms > 0 ? (f.execs / f.ms) * 1000 : 0;
      const known = f.knownHits > 0 ? ` known-bug hits ${f.knownHits}` : '';
      const extra = known + (f.target.session ? ` session ${f.sessionExecs} (${f.sessionsBuilt} built, max accounted ${(f.maxAccounted / 1024).toFixed(0)} KiB)` : '');
      console.log(`  ${f.target.name.padEnd(12)} ${String(f.execs).padStart(9)} execs ${rate.toFixed(0).padStart(7)}/s corpus ${String(f.corpus.length).padStart(5)} sigs ${String(f.signatures).padStart(6)}${extra}${f.failure ? '  FAILED' : ''}`);
    }
    if (heap > args.maxHeapMb) {
      failures.push({ target: 'heap', input: new Uint8Array(0), error: `heap after GC ${heap.toFixed(1)} MiB exceeds --max-heap-mb ${args.maxHeapMb}`, fromSession: false });
      active.clear();
    }
  };
  while (active.size > 0) {
    for (const f of [...active]) {
      current = fuzzers.indexOf(f);
      const sliceEnd = Math.min(end, performance.now() + 250);
      const failure = args.iterations !== undefined ? f.step(Math.min(200, args.iterations - f.execs)) : f.step(1_000_000, sliceEnd);
      if (failure) {
        const file = saveFailure(args.crashDir, failure, `seed: ${args.seed}`);
        console.log(`\n*** ${f.target.name} FAILED, input saved to ${file}\n${failure.error}\n`);
        failures.push(failure);
        active.delete(f);
        if (!args.keepGoing) active.clear();
      } else if (args.iterations !== undefined && f.execs >= args.iterations) active.delete(f);
    }
    if (args.iterations === undefined && performance.now() >= end) break;
    if (performance.now() - lastReport >= 5000) {
      lastReport = performance.now();
      report(false);
    }
    // Yield: a worker's console output reaches the terminal only when its event loop turns.
    await new Promise((resolve) => setImmediate(resolve));
  }
  report(true);
  return failures.length > 0 ? 1 : 0;
}

/** The watchdog: start the worker, and save the input it is stuck on if its heartbeat stops. */
function watch(args: Args, argv: string[]): void {
  const shared = new SharedArrayBuffer(16 + SHARED_BYTES);
  const head = new Int32Array(shared, 0, 4);
  const boot = `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(import.meta.url)}); })`;
  const worker = new Worker(boot, { eval: true, workerData: { argv, shared } });
  let last = -1;
  let still = 0;
  const timer = setInterval(() => {
    const beat = Atomics.load(head, 0);
    if (beat !== last) {
      last = beat;
      still = 0;
      return;
    }
    if (++still < args.hangSeconds) return;
    clearInterval(timer);
    const t = args.targets[head[1]!]!;
    const input = new Uint8Array(shared, 16, head[3]!).slice();
    const failure: Failure = { target: t.name, input, error: `Hang: one input ran for more than ${args.hangSeconds} s (watchdog)`, fromSession: head[2] === 1 };
    const file = saveFailure(args.crashDir, failure, `seed: ${args.seed}`);
    console.log(`\n*** ${t.name} HANG, input saved to ${file}${failure.fromSession ? ' (the session history)' : ''}`);
    void worker.terminate().then(() => {
      process.exitCode = 1;
    });
  }, 1000);
  worker.on('exit', (code) => {
    clearInterval(timer);
    if (process.exitCode === undefined) process.exitCode = code;
  });
  worker.on('error', (e) => {
    console.error(e);
    process.exitCode = 2;
  });
}

try {
  if (isMainThread) {
    const argv = process.argv.slice(2);
    const args = parseArgs(argv);
    if (args.list) {
      for (const t of TARGETS) console.log(`${t.name.padEnd(12)} ${t.description}`);
    } else if (args.replay.length > 0) {
      process.exitCode = replay(args);
    } else {
      watch(args, argv);
    }
  } else {
    const { argv, shared } = workerData as { argv: string[]; shared: SharedArrayBuffer };
    void fuzzLoop(parseArgs(argv), shared).then((code) => {
      process.exitCode = code;
    });
  }
} catch (e) {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 2;
}
