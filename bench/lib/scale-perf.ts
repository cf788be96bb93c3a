/**
 * bench/scale.ts --perf: counts a server's system calls by kind over a trial with `perf stat` on tracepoints
 * (counting only, no sampling: a few percent of overhead at most), for counts per operation. The threads are
 * listed when the count starts and followed without inheritance (`-t`, `--no-inherit`), so the load generator,
 * which the bench process itself spawns, is not counted with the byway cluster.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** The events counted: all system calls, then those a poll loop, a readiness wait or a doorbell makes. */
export const PERF_EVENTS = [
  'raw_syscalls:sys_enter',
  'syscalls:sys_enter_epoll_wait',
  'syscalls:sys_enter_epoll_pwait',
  'syscalls:sys_enter_epoll_ctl',
  'syscalls:sys_enter_sendto',
  'syscalls:sys_enter_write',
  'syscalls:sys_enter_writev',
  'syscalls:sys_enter_read',
  'syscalls:sys_enter_recvfrom',
  'syscalls:sys_enter_recvmsg',
  'syscalls:sys_enter_futex',
  'syscalls:sys_enter_getsockopt',
  'syscalls:sys_enter_madvise',
  'syscalls:sys_enter_mprotect',
  'context-switches',
] as const;

/** The thread ids of `pid` and, with `children`, of its descendants (from /proc). */
export function threadsOf(pid: number, children: boolean): number[] {
  const out: number[] = [];
  const visit = (p: number): void => {
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${p}/task`);
    } catch {
      return; // gone
    }
    for (const t of tasks) {
      out.push(Number(t));
      if (!children) continue;
      try {
        for (const c of readFileSync(`/proc/${p}/task/${t}/children`, 'utf8').trim().split(/\s+/)) if (c) visit(Number(c));
      } catch {
        // the thread ended
      }
    }
  };
  visit(pid);
  return out;
}

/** Starts counting on `tids`; stop() ends the count and answers each event's total (short names: epoll_ctl, ...). */
export async function perfCount(tids: readonly number[]): Promise<{ stop(): Promise<Record<string, number>> }> {
  const child = spawn('perf', ['stat', '-x', ',', '--no-inherit', '-e', PERF_EVENTS.join(','), '-t', tids.join(',')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  await new Promise((r) => setTimeout(r, 300)); // perf attaches
  return {
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', () => {
          const counts: Record<string, number> = {};
          for (const line of err.split('\n')) {
            const f = line.split(',');
            const ev = PERF_EVENTS.find((e) => e === f[2]);
            if (ev !== undefined) counts[ev.replace(/^.*sys_enter_/, '').replace('raw_syscalls:sys_enter', 'syscalls')] = Number(f[0]) || 0;
          }
          resolve(counts);
        });
        child.kill('SIGINT');
      }),
  };
}
