/**
 * The floor of TCP bulk receive (bench/lib/tcp-sink-floor.c, built by bench/lib/cprogs.ts, run by
 * bench/rx-bulk-veth.ts --driver floor-v2*) against a kernel node:net sender: both ends on a veth pair across two
 * namespaces with the kernel's default offloads, so the sender hands over GSO packets. Checks that the floor answers
 * ARP and the handshake and counts every byte written exactly once (read when the sender's FIN has come in order),
 * with and without its copy, and that it refuses bad arguments. A few MiB each; the speed is measured in bench/, not asserted here.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildCPrograms, removeCPrograms, runC, type CPrograms } from '../../bench/lib/cprogs.js';
import { startFloorSink, type FloorMark, type FloorSink } from '../../bench/lib/floor-sink.js';
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
  const sinks: FloorSink[] = [];

  beforeAll(() => {
    progs = buildCPrograms();
    nsA = lab.addNetns('bwtfA-');
    nsB = lab.addNetns('bwtfB-');
    ({ a } = lab.addVeth(nsA, nsB, { addrB: '10.77.16.2/24', txChecksumOffload: true }));
  });
  afterAll(() => {
    for (const f of sinks) f.kill();
    lab.destroy();
    removeCPrograms();
  });

  /**
   * Starts the floor with a copy area of `copyMiB` (and `workNs` of spinning per frame), sends `bytes` from node:net
   * in nsB, and returns the floor's counts once the sender's FIN has come in order (every byte before it counted).
   */
  async function receive(copyMiB: number, bytes: number, workNs = 0): Promise<FloorMark> {
    const floor = await startFloorSink({ bin: progs.tcpSinkFloor, ns: nsA, kind: 'v2', ifname: a, mac: FLOOR_MAC, ip: FLOOR_IP, port: PORT, copyMiB, workNs });
    sinks.push(floor);
    try {
      // 64 KiB writes, then end(); at 'finish' the kernel holds the rest and sends it, then the FIN, after the exit.
      const sender = `const s = require('node:net').connect(${PORT}, '${FLOOR_IP}');
        const chunk = Buffer.alloc(65536, 0x5a); let left = ${bytes};
        s.on('connect', function pump() { while (left > 0) { const n = Math.min(left, chunk.length); left -= n;
          if (!s.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return void s.once('drain', pump); } s.end(); });
        s.on('error', (e) => { console.error(e.message); process.exit(1); });
        s.on('finish', () => process.exit(0));`;
      const r = await execInAsync(nsB, process.execPath, ['-e', sender], { timeoutMs: 20_000 });
      expect(r.code, r.stderr).toBe(0);
      // Asked again as soon as it answers (no timer): the answers end when the FIN is in, or the test's time limit.
      let m = await floor.mark();
      while (m.fin !== 1) m = await floor.mark();
      return m;
    } finally {
      floor.kill();
    }
  }

  it('takes the handshake and counts every byte once, without a copy', async () => {
    const bytes = 8 * 1048576 + 1234;
    const c = await receive(0, bytes);
    expect(c.bytes).toBe(bytes);
    expect(c.frames).toBeGreaterThan(0);
    expect(c.acks).toBeGreaterThan(0); // the SYN-ACK and ACKs: the sender's window moved
  }, 40_000);

  it('the same with its copy of every byte, and with 20 us of work per frame', async () => {
    const bytes = 4 * 1048576 + 77;
    const c = await receive(1, bytes);
    expect(c.bytes).toBe(bytes);
    expect(c.workMs).toBe(0);
    const w = await receive(1, bytes, 20_000);
    expect(w.bytes).toBe(bytes);
    // At least 20 us spun after every TCP frame (the handshake's and the FIN's among them), and not far more.
    expect(w.workMs).toBeGreaterThanOrEqual((w.frames * 20) / 1000);
    expect(w.workMs).toBeLessThan((w.frames * 20) / 1000 + 100);
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
