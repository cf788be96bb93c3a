/**
 * bench/jitter.ts on every vCPU at once (each pinned with taskset), for the run's record: how much of a spinning
 * thread's time this machine took away around the run, and how fast each vCPU computes meanwhile (the `speed`
 * figure, bench/lib/vcpu-speed.ts). A vCPU whose measurement fails is recorded with its error.
 */
import { cpus } from 'node:os';
import { runC } from './cprogs.js';
import type { JitterFigures } from '../report.js';

export async function measureJitter(root: string, seconds: number): Promise<Record<string, JitterFigures | { error: string }>> {
  const n = cpus().length;
  const runs = Array.from({ length: n }, (_, i) =>
    runC(['taskset', '-c', String(i), 'node', '--import', 'tsx', `${root}/bench/jitter.ts`, '--seconds', String(seconds), '--json'], (seconds + 30) * 1000, undefined, root),
  );
  const out: Record<string, JitterFigures | { error: string }> = {};
  for (let i = 0; i < n; i++) {
    try {
      const text = await runs[i]!.done;
      out[`cpu${i}`] = JSON.parse(text.trim().split('\n').pop()!) as JitterFigures;
    } catch (e) {
      out[`cpu${i}`] = { error: (e as Error).message.slice(0, 300) };
    }
  }
  return out;
}
