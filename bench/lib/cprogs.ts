/**
 * The harness's C programs (bench/lib/blast.c, the paced sender; bench/lib/floor.c, the busy-polling floor;
 * bench/lib/tcp-sink-floor.c, the floor of TCP bulk receive):
 * compiled once per run with cc into a temp dir, and run as child processes with a time limit. Building throws
 * with what to install when cc or the Linux headers are missing (Debian: gcc, libc6-dev, linux-libc-dev).
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));

export interface CPrograms {
  readonly blast: string;
  readonly floor: string;
  readonly tcpSinkFloor: string;
  readonly dir: string;
}

let built: CPrograms | undefined;

/** Compile blast.c, floor.c and tcp-sink-floor.c (once); throws an Error with code 'ENOCC' and what to install. */
export function buildCPrograms(): CPrograms {
  if (built) return built;
  const dir = mkdtempSync(join(tmpdir(), 'byway-bench-c-'));
  const out: Record<string, string> = {};
  for (const name of ['blast', 'floor', 'tcp-sink-floor']) {
    out[name] = join(dir, name);
    try {
      execFileSync('cc', ['-O2', '-Wall', '-o', out[name]!, join(HERE, `${name}.c`)], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
    } catch (e) {
      const x = e as { code?: string; stderr?: Buffer; message: string };
      rmSync(dir, { recursive: true, force: true });
      const why = x.code === 'ENOENT' ? 'cc not found' : (x.stderr?.toString().trim().split('\n').slice(0, 4).join(' | ') ?? x.message);
      throw Object.assign(new Error(`cannot build bench/lib/${name}.c (${why}); install a C compiler and the Linux headers: apt-get install gcc libc6-dev linux-libc-dev`), { code: 'ENOCC' });
    }
  }
  built = { blast: out['blast']!, floor: out['floor']!, tcpSinkFloor: out['tcp-sink-floor']!, dir };
  return built;
}

/** Remove the build directory (end of the run). */
export function removeCPrograms(): void {
  if (built) rmSync(built.dir, { recursive: true, force: true });
  built = undefined;
}

export interface CRun {
  /** Resolves once the program printed `readyLine` on stderr (at once when none is asked for). */
  readonly ready: Promise<void>;
  /** Resolves with stdout when the program exits 0; rejects with its stderr otherwise or after the time limit. */
  readonly done: Promise<string>;
  kill(): void;
}

const running = new Set<{ kill(): void }>();

/** Kill every C program still running (exit and signal handlers). */
export function killAllC(): void {
  for (const r of running) r.kill();
}

/** Run argv in cwd (e.g. ['ip', 'netns', 'exec', ns, 'taskset', '-c', '0', prog, ...]) for at most timeoutMs. */
export function runC(argv: string[], timeoutMs: number, readyLine?: string, cwd?: string): CRun {
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], ...(cwd ? { cwd } : {}) });
  let stdout = '';
  let stderr = '';
  let readyResolve!: () => void;
  let readyReject!: (e: Error) => void;
  const ready = new Promise<void>((res, rej) => {
    readyResolve = res;
    readyReject = rej;
  });
  ready.catch(() => undefined);
  if (!readyLine) readyResolve();
  const handle = {
    kill: (): void => {
      if (child.exitCode === null && child.pid !== undefined) {
        try {
          process.kill(child.pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
    },
  };
  running.add(handle);
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    if (readyLine && stderr.includes(readyLine)) readyResolve();
  });
  const timer = setTimeout(handle.kill, timeoutMs);
  const done = new Promise<string>((resolve, reject) => {
    child.on('error', (e) => {
      clearTimeout(timer);
      running.delete(handle);
      readyReject(e);
      reject(e);
    });
    // 'close', not 'exit': the exit can come before the last of stdout and stderr has been read.
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      running.delete(handle);
      const err = Object.assign(new Error(`${argv.slice(-12).join(' ')}: exit ${code ?? signal}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`), { code: 'ECPROG' });
      readyReject(err);
      if (code === 0) resolve(stdout);
      else reject(err);
    });
  });
  done.catch(() => undefined);
  return { ready, done, kill: handle.kill };
}
