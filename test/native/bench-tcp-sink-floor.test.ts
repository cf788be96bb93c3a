/**
 * The floor of TCP bulk receive (bench/lib/tcp-sink-floor.c, built by bench/lib/cprogs.ts, run by
 * bench/rx-bulk-veth.ts --driver floor-v2*) against a kernel node:net sender: both ends on a veth pair across two
 * namespaces with the kernel's default offloads, so the sender hands over GSO packets. Checks that the floor answers
 * ARP and the handshake and counts every byte written exactly once, with and without its copy, and that it refuses
 * bad arguments. A few MiB each; the speed is measured in bench/, not asserted here.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildCPrograms, removeCPrograms, runC, type CPrograms } from '../../bench/lib/cprogs.js';
import { childLines } from '../../bench/lib/child-lines.js';
import { NetLab, describePrivileged, execInAsync } from '../helpers/netns.js';

const FLOOR_IP = '10.77.16.3';
const FLOOR_MAC = '02:b7:00:00:10:03';
const PORT = 9107;

describePrivileged('bench tcp-sink-floor.c against a kernel sender', () => {
  const lab = new NetLab();
  let progs: CPrograms;
  let nsA = '';
  let nsB = '';
  let a = '';
  const running: ChildProcess[] = [];

  beforeAll(() => {
    progs = buildCPrograms();
    nsA = lab.addNetns('bwtfA-');
    nsB = lab.addNetns('bwtfB-');
    ({ a } = lab.addVeth(nsA, nsB, { addrB: '10.77.16.2/24', txChecksumOffload: true }));
  });
  afterAll(() => {
    for (const c of running) c.kill('SIGKILL');
    lab.destroy();
    removeCPrograms();
  });

  /**
   * Starts the floor with a copy area of `copyMiB` (and `workNs` of spinning per frame), sends `bytes` from node:net
   * in nsB, returns the floor's counts.
   */
  async function receive(copyMiB: number, bytes: number, workNs = 0): Promise<Record<string, number>> {
    const floor = spawn('ip', ['netns', 'exec', nsA, progs.tcpSinkFloor, 'v2', a, FLOOR_MAC, FLOOR_IP, String(PORT), String(copyMiB), String(workNs)], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    running.push(floor);
    const next = childLines(floor, 'tcp-sink-floor', 10_000);
    try {
      expect(await next()).toBe('ready');
      // 64 KiB writes of a counting pattern, then end(); the process waits for the floor's ACK of everything
      // (the socket's 'finish' only says the kernel took it), so it lingers until the floor has it all.
      const sender = `const s = require('node:net').connect(${PORT}, '${FLOOR_IP}');
        const chunk = Buffer.alloc(65536, 0x5a); let left = ${bytes};
        s.on('connect', function pump() { while (left > 0) { const n = Math.min(left, chunk.length); left -= n;
          if (!s.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return void s.once('drain', pump); } s.end(); });
        s.on('error', (e) => { console.error(e.message); process.exit(1); });
        s.on('finish', () => setTimeout(() => process.exit(0), 300));`;
      const r = await execInAsync(nsB, process.execPath, ['-e', sender], { timeoutMs: 20_000 });
      expect(r.code, r.stderr).toBe(0);
      // The sender's kernel may still be retransmitting the tail: ask until the count stops short of it no more.
      let counts: Record<string, number> = {};
      for (let i = 0; i < 50; i++) {
        floor.stdin!.write('x\n');
        counts = JSON.parse(await next()) as Record<string, number>;
        if (counts['bytes']! >= bytes) break;
        await new Promise((res) => setTimeout(res, 100));
      }
      return counts;
    } finally {
      floor.stdin!.end();
      floor.kill('SIGKILL');
    }
  }

  it('takes the handshake and counts every byte once, without a copy', async () => {
    const bytes = 8 * 1048576 + 1234;
    const c = await receive(0, bytes);
    expect(c['bytes']).toBe(bytes);
    expect(c['frames']).toBeGreaterThan(0);
    expect(c['acks']).toBeGreaterThan(0); // the SYN-ACK and ACKs: the sender's window moved
  }, 40_000);

  it('the same with its copy of every byte, and with 20 us of work per frame', async () => {
    const bytes = 4 * 1048576 + 77;
    const c = await receive(1, bytes);
    expect(c['bytes']).toBe(bytes);
    expect(c['workMs']).toBe(0);
    const w = await receive(1, bytes, 20_000);
    expect(w['bytes']).toBe(bytes);
    // At least 20 us spun after every TCP frame (the handshake's and the FIN's among them), and not far more.
    expect(w['workMs']).toBeGreaterThanOrEqual((w['frames']! * 20) / 1000);
    expect(w['workMs']).toBeLessThan((w['frames']! * 20) / 1000 + 100);
  }, 60_000);

  it('refuses bad arguments with a usage message, not a crash', async () => {
    const r = runC([progs.tcpSinkFloor, 'v2', a, 'not-a-mac', FLOOR_IP, '1', '0'], 5000);
    await expect(r.done).rejects.toThrow(/bad MAC or address/);
    const u = runC([progs.tcpSinkFloor, a], 5000);
    await expect(u.done).rejects.toThrow(/usage: tcp-sink-floor/);
    const k = runC([progs.tcpSinkFloor, 'v3', a, FLOOR_MAC, FLOOR_IP, '1', '0'], 5000);
    await expect(k.done).rejects.toThrow(/usage: tcp-sink-floor/);
  });
});
