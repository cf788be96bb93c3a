/**
 * `--cpu N` for a benchmark script that runs in one process: Node cannot set its own CPU affinity, so the script
 * runs itself again under `taskset -c N` (same node binary, same node options, same arguments) and exits with the
 * child's status; the child, which finds BYWAY_BENCH_CPU set, goes on and can say where it ran. Signals that stop
 * the parent (SIGINT, SIGTERM, SIGHUP) are passed on to the child. Linux only (taskset, /proc).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { constants } from 'node:os';

const ENV = 'BYWAY_BENCH_CPU';

/** Where this process may run and last ran, from /proc (undefined fields where /proc does not say). */
export interface CpuPlacement {
  /** The vCPU asked for with --cpu. */
  readonly cpu: number;
  /** Cpus_allowed_list of /proc/self/status: the affinity the kernel holds for this process. */
  readonly allowed: string | undefined;
  /** Field 39 of /proc/self/stat: the vCPU this thread last ran on. */
  readonly lastRan: number | undefined;
}

/**
 * With `cpu` undefined: nothing (returns undefined). Otherwise, in the first process, re-runs the script pinned and
 * never returns (the process exits with the child's status); in the pinned child, returns where it runs.
 */
export async function pinToCpu(cpu: number | undefined): Promise<CpuPlacement | undefined> {
  if (cpu === undefined) return undefined;
  if (process.env[ENV] === String(cpu)) return placement(cpu);
  const child = spawn('taskset', ['-c', String(cpu), process.execPath, ...process.execArgv, process.argv[1]!, ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, [ENV]: String(cpu) },
  });
  const forward = (sig: NodeJS.Signals): void => void child.kill(sig);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, forward);
  const code = await new Promise<number>((resolve) => {
    child.on('error', (e) => {
      console.error(`--cpu ${cpu}: cannot run taskset: ${e.message}`);
      resolve(2);
    });
    child.on('exit', (c, sig) => resolve(c ?? 128 + (sig ? constants.signals[sig] : 0)));
  });
  process.exit(code);
}

/** Where this process (asked to run on `cpu`) may run and last ran. */
export function placement(cpu: number): CpuPlacement {
  return { cpu, allowed: allowedList(), lastRan: lastRanOn() };
}

function allowedList(): string | undefined {
  try {
    return /^Cpus_allowed_list:\s*(\S+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
  } catch {
    return undefined;
  }
}

/** The vCPU this thread last ran on (field 39 of /proc/self/stat), undefined where /proc does not say. */
export function lastRanOn(): number | undefined {
  try {
    return parseLastRan(readFileSync('/proc/self/stat', 'utf8'));
  } catch {
    return undefined;
  }
}

/** Field 39 (processor) of a /proc/PID/stat line; the command name (field 2) may hold spaces and parentheses. */
export function parseLastRan(stat: string): number | undefined {
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state), so field 39 is rest[36].
  const v = Number(rest[36]);
  return Number.isInteger(v) ? v : undefined;
}
