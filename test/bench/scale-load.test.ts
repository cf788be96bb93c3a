/**
 * bench/lib/scale-load.c, the load generator of bench/scale.ts (issue #19): it reads /proc/stat at the edges of its
 * counted seconds and prints the machine's busy, idle, softirq and stolen time over them (bench/scale.ts divides
 * those by the operations counted in the same seconds; over the process's whole life they read high). Checked: the
 * line is there and its figures add up to the window's length on every vCPU. No rate is asserted: the UDP run sends
 * to a closed port on the loopback of a namespace of its own (nothing listens; sendmmsg may fail, which it ignores)
 * for 0.3 s. Needs cc, as the native addon's build does, and the privileges for the namespace.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { NetLab, describePrivileged, execIn } from '../helpers/netns.js';

const SECONDS = 0.3;

const SOURCE = join(dirname(fileURLToPath(import.meta.url)), '../../bench/lib/scale-load.c');

describePrivileged('scale-load: the machine over its counted seconds', () => {
  const lab = new NetLab();
  afterAll(() => lab.destroy());

  it('prints busy + idle of every vCPU for about the seconds it counted', () => {
    const dir = mkdtempSync(join(tmpdir(), 'byway-scale-load-'));
    try {
      const bin = join(dir, 'scale-load');
      execFileSync('cc', ['-O2', '-Wall', '-o', bin, SOURCE], { stdio: 'pipe', timeout: 60_000 });
      const ns = lab.addNetns('bwsl-');
      const out = execIn(ns, bin, ['udp', '127.0.0.1', '9', '2', String(SECONDS)], 30_000);
      expect(out).toMatch(/^sent \d+$/m);
      expect(out).toMatch(/^cpu_us \d+ \d+ vcsw \d+ ivcsw \d+$/m);
      const m = /^machine_us (\d+) (\d+) (\d+) (\d+)$/m.exec(out);
      expect(m).not.toBeNull();
      const [busy, idle, softirq, steal] = m!.slice(1).map(Number) as [number, number, number, number];
      // Every vCPU's time over the window, counted in 10 ms clock ticks: at least n x 0.3 s less a few ticks. The
      // upper bound is loose: on a loaded machine the process may wait for a vCPU between its loop's end and the
      // second read.
      const total = busy + idle;
      const n = cpus().length;
      expect(total).toBeGreaterThanOrEqual(n * (SECONDS - 0.05) * 1e6);
      expect(total).toBeLessThanOrEqual(n * (SECONDS + 1) * 1e6);
      expect(softirq).toBeLessThanOrEqual(busy);
      expect(steal).toBeLessThanOrEqual(busy);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
