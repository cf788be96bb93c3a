/**
 * The pure parts of the per-vCPU compute-speed figure (bench/lib/vcpu-speed.ts) and of --cpu's placement report
 * (bench/lib/pin-cpu.ts), and how the benchmark report prints the speed beside bench/jitter.ts's gaps, old records
 * without it included. No speed is asserted: the one measurement here checks only the shape of what it returns.
 */
import { describe, expect, it } from 'vitest';
import { parseLastRan } from '../../bench/lib/pin-cpu.js';
import { fmtSpeed, measureVcpuSpeed, speedOfSlices, speedSummary, type VcpuSpeed } from '../../bench/lib/vcpu-speed.js';
import { renderDoc, type BenchRecord, type JitterFigures } from '../../bench/report.js';
import { benchRecord } from '../helpers/bench-record.js';

const speed = (ns: number, min = ns, max = ns): VcpuSpeed => ({ unit: 'u', unitsPerSlice: 10, slices: 20, nsPerUnit: ns, minNsPerUnit: min, maxNsPerUnit: max, check: 1 });

describe('vCPU compute speed', () => {
  it('takes the median and the spread of the slices, rounded to 0.1 ns', () => {
    expect(speedOfSlices([5, 1, 3.04, 9], [1, 2, 3, 4], 7, 42)).toMatchObject({ unitsPerSlice: 7, slices: 4, nsPerUnit: 4, minNsPerUnit: 1, maxNsPerUnit: 9, cpuNsPerUnit: 2.5, check: 42 });
    expect(speedOfSlices([2.25, 1, 3], [1, 1, 1], 1, 0)).toMatchObject({ nsPerUnit: 2.3, minNsPerUnit: 1, maxNsPerUnit: 3, cpuNsPerUnit: 1 });
    expect(speedOfSlices([], [], 1, 0).nsPerUnit).toBeNaN();
  });

  it('does the same work every time: same slices, same check, whatever the timing', () => {
    const a = measureVcpuSpeed(2, 3);
    const b = measureVcpuSpeed(2, 3);
    expect(a.slices).toBe(2);
    expect(a.check).toBe(b.check);
    expect(a.minNsPerUnit).toBeLessThanOrEqual(a.nsPerUnit);
    expect(a.nsPerUnit).toBeLessThanOrEqual(a.maxNsPerUnit);
    expect(a.cpuNsPerUnit).toBeGreaterThanOrEqual(0);
  });

  it('prints each vCPU with its spread and the slowest against the fastest', () => {
    expect(fmtSpeed(speed(1480.4, 1470, 1530))).toBe('1,480 ns/unit (1,470-1,530)');
    expect(fmtSpeed(speed(12.34))).toBe('12.3 ns/unit (12.3-12.3)');
    const per = { cpu0: { speed: speed(1500, 1490, 1600) }, cpu1: { speed: speed(2370, 2300, 2500) } };
    expect(speedSummary(per)).toBe("cpu0 1,500 ns/unit (1,490-1,600), cpu1 2,370 ns/unit (2,300-2,500); slowest cpu1 1.58x cpu0's time per unit");
  });

  it('adds the on-CPU figures where the record has them: a vCPU shared with other tasks, not slower, shows 1.00x', () => {
    expect(fmtSpeed({ ...speed(2370, 2300, 2500), cpuNsPerUnit: 1510 })).toBe('2,370 ns/unit (2,300-2,500; on-CPU 1,510)');
    const per = { cpu0: { speed: { ...speed(1500), cpuNsPerUnit: 1500 } }, cpu1: { speed: { ...speed(2370), cpuNsPerUnit: 1500 } } };
    expect(speedSummary(per)).toMatch(/; slowest cpu1 1\.58x cpu0's time per unit \(on-CPU 1\.00x\)$/);
    // One side without the CPU figure: no on-CPU ratio.
    expect(speedSummary({ ...per, cpu1: { speed: speed(2370) } })).toMatch(/time per unit$/);
  });

  it('leaves out vCPUs without a figure, and says nothing when none has one (older records)', () => {
    expect(speedSummary({ cpu0: { speed: speed(1500) }, cpu1: { error: 'taskset: failed' } })).toBe('cpu0 1,500 ns/unit (1,500-1,500)');
    expect(speedSummary({ cpu0: {}, cpu1: { error: 'x' } })).toBeUndefined();
    expect(speedSummary({})).toBeUndefined();
  });
});

describe('--cpu placement', () => {
  it('reads the last vCPU from /proc/PID/stat, whatever the command name holds', () => {
    const tail = Array.from({ length: 37 }, (_, i) => (i === 36 ? '1' : String(i))).join(' ');
    expect(parseLastRan(`1234 (node) ${tail}`)).toBe(1);
    expect(parseLastRan(`1234 (a b) (c)) ${tail}`)).toBe(1);
    expect(parseLastRan('1234 (node) R 1')).toBeUndefined();
  });
});

describe('the report prints the speed beside the gaps', () => {
  const gaps: JitterFigures = { seconds: 3, readNs: 30, gapsPerSec: { '>10us': 12, '>100us': 2 }, lostPct: 8.5, maxUs: 3400, gcs: 0, involuntarySwitches: 7, voluntarySwitches: 0 };
  const rec = (jitter: BenchRecord['jitter']): BenchRecord => benchRecord({ jitter });

  it('one column per row and the slowest vCPU against the fastest', () => {
    const doc = renderDoc(rec({ seconds: 3, start: { cpu0: { ...gaps, speed: speed(1500, 1490, 1600) }, cpu1: { ...gaps, speed: speed(2370, 2300, 2500) } } }), 'r.json');
    expect(doc).toMatch(/\| start \| cpu0 \| 8\.50 % \| 12 \| 2 \| 3,400 us \| 7 \| 1,500 ns\/unit \(1,490-1,600\) \|/);
    expect(doc).toMatch(/\| start \| cpu1 \| .* \| 2,370 ns\/unit \(2,300-2,500\) \|/);
    expect(doc).toContain("- start: cpu0 1,500 ns/unit (1,490-1,600), cpu1 2,370 ns/unit (2,300-2,500); slowest cpu1 1.58x cpu0's time per unit");
  });

  it('an older record without the figure still prints, with a dash and a note', () => {
    const doc = renderDoc(rec({ seconds: 3, start: { cpu0: gaps, cpu1: { error: 'taskset: failed' } } }), 'r.json');
    expect(doc).toMatch(/\| start \| cpu0 \| 8\.50 % \| 12 \| 2 \| 3,400 us \| 7 \| – \|/);
    expect(doc).toMatch(/\| start \| cpu1 \| failed: taskset: failed \|/);
    expect(doc).toContain('Compute speed: not measured in this record (older harness).');
  });
});
