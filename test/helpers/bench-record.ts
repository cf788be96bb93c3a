/** A minimal BenchRecord (bench/report.ts) for tests of the report: one machine, no paths; `over` replaces fields. */
import type { BenchRecord } from '../../bench/report.js';

export function benchRecord(over: Partial<BenchRecord> = {}): BenchRecord {
  return {
    version: 1,
    startedAt: '2026-12-04T12:00:00.000Z',
    command: 'node --import tsx bench/run.ts',
    machine: { hostname: 'h', cpuModel: 'cpu', cpus: 2, memoryGiB: 4, kernel: '6.18', os: 'Debian', node: 'v20', gitCommit: 'abc', gitDirty: false },
    settings: { sizes: [64], offloads: 'on' },
    loadavgStart: [1, 1, 1],
    topology: undefined,
    inmemory: undefined,
    paths: [],
    ...over,
  };
}
