/**
 * The benchmark's C floor (bench/lib/floor.c, built by bench/lib/cprogs.ts) against the kernel: both ends on a veth
 * pair across two namespaces with the kernel's default offloads, over TPACKET_V2 rings and over AF_XDP copy mode.
 * Checks that the ping-pong's echoes come back and are timed, and that the blast reaches the sink, counted no more
 * than once. Short runs (a few hundred ms each); the performance itself is measured in bench/, not asserted here.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCPrograms, removeCPrograms, runC, type CPrograms } from '../../bench/lib/cprogs.js';
import { NetLab, describePrivileged, execIn } from '../helpers/netns.js';

describePrivileged('bench floor.c over a veth pair', () => {
  const lab = new NetLab();
  let progs: CPrograms;
  let nsA = '';
  let nsB = '';
  let a = '';
  let b = '';
  let port = 31000;

  beforeAll(() => {
    progs = buildCPrograms();
    nsA = lab.addNetns('bwfA-');
    nsB = lab.addNetns('bwfB-');
    ({ a, b } = lab.addVeth(nsA, nsB, { txChecksumOffload: true }));
  });
  afterAll(() => {
    lab.destroy();
    removeCPrograms();
  });

  const mac = (ns: string, dev: string): string => execIn(ns, 'cat', [`/sys/class/net/${dev}/address`]).trim();

  async function pair(backend: string, server: string, client: string, size: number): Promise<[Record<string, number>, Record<string, number>]> {
    const p = port++;
    const [ma, mb] = backend === 'xdp' ? [mac(nsA, a), mac(nsB, b)] : ['02:b7:00:00:0f:03', '02:b7:00:00:0f:04'];
    const argv = (ns: string, dev: string, me: string, my: string, peer: string, their: string, role: string, secs: number): string[] => [
      'ip', 'netns', 'exec', ns, progs.floor, backend, dev, me, my, peer, their, String(p), role, String(size), '0.1', String(secs),
    ];
    const srv = runC(argv(nsB, b, mb, '10.77.15.4', ma, '10.77.15.3', server, 1.5), 15_000, 'floor: ready');
    try {
      await srv.ready;
      const cli = runC(argv(nsA, a, ma, '10.77.15.3', mb, '10.77.15.4', client, 0.3), 15_000);
      const c = JSON.parse((await cli.done).trim()) as Record<string, number>;
      const s = JSON.parse((await srv.done).trim()) as Record<string, number>;
      return [s, c];
    } finally {
      srv.kill();
    }
  }

  for (const backend of ['v2', 'xdp']) {
    describe(backend === 'v2' ? 'AF_PACKET TPACKET_V2' : 'AF_XDP copy mode', () => {
      it('ping-pong: every echo comes back and is timed', async () => {
        const [refl, ping] = await pair(backend, 'reflect', 'ping', 64);
        // A function check, not a speed one: with other jobs on the 2 vCPUs two spinning processes get a few
        // dozen round trips in 0.3 s (29 seen), a quiet machine tens of thousands.
        expect(ping['samples']).toBeGreaterThan(10);
        // A reply not back within 100 ms counts as lost: only a vCPU taken away that long (seen on these shared
        // machines) could do that on a veth, so a stray one is allowed.
        expect(ping['lost']).toBeLessThanOrEqual(2);
        expect(ping['p50Us']).toBeGreaterThan(0);
        expect(ping['p50Us']).toBeLessThanOrEqual(ping['p99Us']!);
        expect(ping['p99Us']).toBeLessThanOrEqual(ping['maxUs']!);
        // The reflector also echoed the warm-up's round trips, which are not samples.
        expect(refl['reflected']).toBeGreaterThanOrEqual(ping['samples']!);
      }, 30_000);

      it('blast to sink: datagrams arrive, none counted twice', async () => {
        const [sink, blast] = await pair(backend, 'sink', 'blast', 64);
        expect(blast['sent']).toBeGreaterThan(1000);
        expect(sink['received']).toBeGreaterThan(0);
        expect(sink['received']).toBeLessThanOrEqual(blast['sent']!);
        expect(sink['window']).toBeLessThanOrEqual(sink['received']!);
      }, 30_000);
    });
  }

  it('refuses bad arguments with a usage message, not a crash', async () => {
    const r = runC([progs.floor, 'v2', a, 'not-a-mac', '10.77.15.3', '02:00:00:00:00:01', '10.77.15.4', '1', 'ping', '64', '0', '1'], 5000);
    await expect(r.done).rejects.toThrow(/bad MAC or IPv4 address/);
  });
});
