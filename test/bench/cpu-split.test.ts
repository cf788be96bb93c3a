import { describe, expect, it } from 'vitest';
import { cpuSplit, cpuStat, fmtCpuSplit } from '../../bench/lib/cpu-split.js';

describe('bench/lib/cpu-split', () => {
  it('gives each vCPU its shares of the window between two snapshots, in percent, zero shares left out', () => {
    // user, nice, system, idle, iowait, irq, softirq, steal
    const p0 = [
      [100, 0, 50, 1000, 0, 0, 10, 0],
      [10, 0, 10, 10, 0, 0, 0, 0],
    ];
    const p1 = [
      [168, 0, 70, 1000, 0, 0, 23, 0], // +68 user, +20 system, +13 softirq (101 jiffies)
      [20, 0, 43, 45, 0, 0, 22, 0], // +10 user, +33 system, +35 idle, +22 softirq (100)
    ];
    const s = cpuSplit(p0, p1);
    expect(s).toEqual([
      { user: 67, system: 20, softirq: 13 },
      { user: 10, system: 33, idle: 35, softirq: 22 },
    ]);
    expect(fmtCpuSplit(s)).toBe('cpu0 user 67 system 20 softirq 13; cpu1 user 10 system 33 idle 35 softirq 22');
  });

  it('reads one row of eight counters per vCPU from /proc/stat', () => {
    const rows = cpuStat();
    expect(rows.length).toBeGreaterThan(0);
    for (const r of rows) {
      expect(r).toHaveLength(8);
      expect(r.every((v) => Number.isInteger(v) && v >= 0)).toBe(true);
    }
  });
});
