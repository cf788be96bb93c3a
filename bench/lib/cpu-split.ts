/**
 * How each vCPU spent a window, from /proc/stat (the whole machine, every namespace): the share of user, system,
 * softirq (the kernel's packet work, charged to no process), idle and the rest, in percent of the window's jiffies.
 * Which side of a bulk transfer is the limit shows here: a receiver that busy-polls is 100 % user whatever it does,
 * so its vCPU says little, but the sending vCPU's idle share says whether the sender (with the veth's transmit and,
 * for AF_PACKET, the copy into the receiver's ring, which run on it) had time left.
 */
import { readFileSync } from 'node:fs';

const NAMES = ['user', 'nice', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal'] as const;

/** Per-vCPU jiffies (cpu0, cpu1, ...): user, nice, system, idle, iowait, irq, softirq, steal. */
export function cpuStat(): number[][] {
  return readFileSync('/proc/stat', 'utf8')
    .split('\n')
    .filter((l) => /^cpu\d /.test(l))
    .map((l) => l.split(/\s+/).slice(1, 9).map(Number));
}

/** Each vCPU's time between two `cpuStat` snapshots, in percent (shares that round to 0 left out). */
export function cpuSplit(p0: number[][], p1: number[][]): Record<string, number>[] {
  return p1.map((row, i) => {
    const d = row.map((v, j) => v - (p0[i]?.[j] ?? v));
    const tot = d.reduce((a, b) => a + b, 0) || 1;
    return Object.fromEntries(NAMES.map((n, j) => [n, Math.round((d[j]! / tot) * 100)]).filter(([, v]) => v !== 0));
  });
}

/** "cpu0 user 75 system 13 softirq 12; cpu1 ..." */
export function fmtCpuSplit(split: Record<string, number>[]): string {
  return split.map((s, i) => `cpu${i} ${Object.entries(s).map(([k, v]) => `${k} ${v}`).join(' ')}`).join('; ');
}
