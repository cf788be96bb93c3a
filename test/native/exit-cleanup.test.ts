/**
 * Nothing outlives its owner: a child opens an AF_XDP driver (program attached), an AF_PACKET driver and a
 * TAP device inside a namespace, then exits without closing them, dies of an uncaught exception, or is killed
 * with SIGKILL; afterwards the XDP program is detached and the TAP device is gone. A worker thread that ends
 * without closing is cleaned up by the addon's env cleanup hook while its process lives on.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { NetLab, describePrivileged, ipIn, uniqueName } from '../helpers/netns.js';

const child = fileURLToPath(new URL('./child-open.ts', import.meta.url));

function runChild(
  args: string[],
  kill: boolean,
  onWorkerDone?: () => void,
): Promise<{ code: number | null; signal: string | null; out: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', child, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let done = false;
    const timer = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`child timed out: ${out}`));
    }, 20_000);
    p.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (kill && out.includes('READY')) p.kill('SIGKILL');
      if (onWorkerDone && !done && out.includes('WORKER-DONE')) {
        done = true;
        onWorkerDone();
        p.kill('SIGKILL');
      }
    });
    p.stderr.on('data', (b: Buffer) => (out += b.toString()));
    p.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, out });
    });
  });
}

describePrivileged('release at process exit', () => {
  const lab = new NetLab();
  afterAll(() => lab.destroy());

  for (const how of ['exit', 'throw', 'kill'] as const) {
    it(`after ${how === 'kill' ? 'SIGKILL' : how === 'throw' ? 'an uncaught exception' : 'process.exit()'}, no XDP program and no TAP device remain`, async () => {
      const ns = lab.addNetns();
      const l = lab.addVeth(ns, undefined);
      const tap = uniqueName('bwx');
      const r = await runChild([ns, l.a, how === 'kill' ? 'hang' : how, tap], how === 'kill');
      expect(r.out).toContain('READY');
      if (how === 'kill') expect(r.signal).toBe('SIGKILL');
      else if (how === 'throw') expect(r.code).not.toBe(0);
      else expect(r.code).toBe(0);
      expect(ipIn(ns, `link show ${l.a}`)).not.toMatch(/prog\/xdp/);
      expect(lab.linkExists(ns, tap)).toBe(false);
    });
  }

  it('a worker thread that ends without closing releases its resources while the process lives on (env cleanup hook)', async () => {
    const ns = lab.addNetns();
    const l = lab.addVeth(ns, undefined);
    const tap = uniqueName('bwx');
    let shown = '';
    let tapLeft = true;
    const r = await runChild([ns, l.a, 'worker', tap], false, () => {
      shown = ipIn(ns, `link show ${l.a}`);
      tapLeft = lab.linkExists(ns, tap);
    });
    expect(r.out).toContain('READY');
    expect(r.out).toContain('WORKER-DONE');
    expect(shown).not.toBe('');
    expect(shown).not.toMatch(/prog\/xdp/);
    expect(tapLeft).toBe(false);
  });
});
