/**
 * The native drivers' bounded spin (FrameDriver.wait -> the addon's rxWait) and transmit doorbell counting
 * (stats.txKicks), against the kernel: AF_PACKET and AF_XDP on a veth pair (byway's end in namespace A, the
 * kernel's in B with 10.77.12.1), TAP with 10.77.12.1 on the device; a permanent neighbour entry for byway's
 * address so the kernel's pings need no ARP.
 *
 * - With no traffic, wait(spinUs) answers false, not before spinUs has passed, and well within a generous bound.
 * - With the kernel pinging byway's address from another process, a wait answers true for a frame that arrived
 *   while it spun (counted in rxSpinHits), and receive() then hands that frame over: the spin took the ready
 *   batch itself, so that receive() calls no rxBatch.
 * - A flush of many frames rings the doorbell once (AF_PACKET) or a few times at most (AF_XDP copy mode takes a
 *   bounded batch per sendto), never once per frame; a flush with nothing queued rings nothing. (TAP has no
 *   doorbell: it counts its one write() per frame.)
 * Every wait here is bounded (at most 10 ms per call, 5 s per test); the namespaces go in afterAll.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openAfPacket } from '../../drivers/af-packet/index.js';
import { openAfXdp } from '../../drivers/af-xdp/index.js';
import type { NativeAddon, NativeHandle } from '../../drivers/native/index.js';
import type { NativeRingDriver } from '../../drivers/native/ring-driver.js';
import { openTap } from '../../drivers/tap/index.js';
import { NetLab, describePrivileged, ipIn, uniqueName } from '../helpers/netns.js';
import { BROADCAST, ethernet, get16, get32, ip } from './frames.js';

const BYWAY = '10.77.12.2';
const KERNEL = '10.77.12.1';

function drain(d: NativeRingDriver): number {
  let n = 0;
  for (let k; (k = d.receive(0, 64, () => {})) > 0; ) n += k;
  return n;
}

function kernelRxPackets(ns: string, ifname: string): number {
  const j = JSON.parse(ipIn(ns, `-s -j link show dev ${ifname}`)) as { stats64: { rx: { packets: number } } }[];
  return j[0]!.stats64.rx.packets;
}

/** The driver under test, and where the kernel's side of its link is (namespace, interface). */
interface Rig {
  d: NativeRingDriver;
  ns: string;
  kernelIf: string;
}

/** A veth pair: byway's end in a namespace of its own, the kernel's (with KERNEL) in another. */
function vethRig(lab: NetLab, open: (ifname: string, netns: string) => NativeRingDriver): Rig {
  const nsA = lab.addNetns();
  const nsB = lab.addNetns();
  const link = lab.addVeth(nsA, nsB, { addrB: `${KERNEL}/24` });
  return { d: open(link.a, nsA), ns: nsB, kernelIf: link.b };
}

const kinds: Record<string, (lab: NetLab) => Rig> = {
  'AF_PACKET (TPACKET_V3)': (lab) => vethRig(lab, (ifname, netns) => openAfPacket({ ifname, netns, ipv4: BYWAY })),
  'AF_PACKET (TPACKET_V2)': (lab) => vethRig(lab, (ifname, netns) => openAfPacket({ ifname, netns, ipv4: BYWAY, tpacketVersion: 2 })),
  'AF_XDP (copy mode)': (lab) => vethRig(lab, (ifname, netns) => openAfXdp({ ifname, netns, ipv4: BYWAY, bindMode: 'copy' })),
  // The TAP device is the kernel's side: it gets KERNEL, in the same namespace.
  TAP: (lab) => {
    const ns = lab.addNetns();
    const d = openTap({ name: uniqueName('bwt'), netns: ns });
    ipIn(ns, `addr add ${KERNEL}/24 dev ${d.ifname}`);
    return { d, ns, kernelIf: d.ifname };
  },
};

for (const [kind, rig] of Object.entries(kinds)) {
  describePrivileged(`native spin and tx kicks: ${kind}`, () => {
    const lab = new NetLab();
    let nsB = '';
    let link = { b: '' };
    let d: NativeRingDriver | undefined;

    beforeAll(() => {
      const r = rig(lab);
      d = r.d;
      nsB = r.ns;
      link = { b: r.kernelIf };
      const mac = Array.from(d.hwAddress!, (b) => b.toString(16).padStart(2, '0')).join(':');
      ipIn(nsB, `neigh replace ${BYWAY} lladdr ${mac} dev ${link.b} nud permanent`);
      drain(d);
    });
    afterAll(async () => {
      await lab.stopProcesses();
      d?.close();
      lab.destroy();
    });

    it('answers false after at least spinUs when nothing arrives', () => {
      drain(d!);
      const spins = d!.stats.rxSpins;
      const t0 = process.hrtime.bigint();
      const got = d!.wait(0, 3000);
      const us = Number(process.hrtime.bigint() - t0) / 1000;
      expect(got).toBe(false);
      expect(us).toBeGreaterThanOrEqual(3000); // it never gives up early
      expect(us).toBeLessThan(3000 + 1_000_000); // and it does come back (generous: a shared, loaded VM)
      expect(d!.stats.rxSpins).toBe(spins + 1);
      expect(d!.wait(0, 0)).toBe(false); // 0: one look, no spin
      expect(d!.stats.rxSpins).toBe(spins + 1);
    });

    it('answers true for a frame that arrives while it spins, and receive() then hands it over', async () => {
      drain(d!);
      const hits = d!.stats.rxSpinHits;
      // Another process sends: this thread is inside the addon while it spins.
      const pinger = lab.spawnIn(nsB, 'ping', ['-c', '100', '-i', '0.02', '-W', '1', BYWAY]);
      const deadline = Date.now() + 5000;
      let echoes = 0;
      while (d!.stats.rxSpinHits === hits && Date.now() < deadline) {
        if (d!.wait(0, 10_000)) {
          // Either it came during the spin (a hit) or in the instant between two waits; take it either way.
          d!.receive(0, 64, (f) => {
            if (get16(f, 12) === 0x0800 && f[23] === 1 && get32(f, 30) === ip(BYWAY)) echoes++;
          });
        }
        await new Promise((resolve) => setImmediate(resolve)); // let the child-process handle breathe
      }
      await lab.stopProcesses();
      expect(d!.stats.rxSpinHits).toBeGreaterThan(hits);
      expect(echoes).toBeGreaterThan(0);
      expect(pinger.pid).toBeDefined();
    });

    it('takes the ready batch in the spin: the receive() after a true wait calls no rxBatch', async () => {
      drain(d!);
      // Count the addon's receive calls of the driver's rx side (drivers/native/rx-ring.ts).
      const rx = (d as unknown as { rx: { native: NativeAddon } }).rx;
      const real = rx.native;
      const calls = { rxBatch: 0, rxWait: 0 };
      rx.native = Object.create(real, {
        rxBatch: { value: (h: NativeHandle, max: number) => (calls.rxBatch++, real.rxBatch(h, max)) },
        rxWait: { value: (h: NativeHandle, us: number, max?: number) => (calls.rxWait++, real.rxWait(h, us, max)) },
      }) as NativeAddon;
      let frames = 0;
      let batchesAfterWait = 0;
      try {
        lab.spawnIn(nsB, 'ping', ['-c', '100', '-i', '0.02', '-W', '1', BYWAY]);
        const deadline = Date.now() + 5000;
        while (frames < 3 && Date.now() < deadline) {
          if (d!.wait(0, 10_000)) {
            const before = calls.rxBatch;
            const n = d!.receive(0, 64, () => {});
            expect(n).toBeGreaterThan(0); // what the spin saw is handed over
            frames += n;
            batchesAfterWait += calls.rxBatch - before;
          }
          await new Promise((resolve) => setImmediate(resolve));
        }
      } finally {
        rx.native = real;
        await lab.stopProcesses();
      }
      expect(frames).toBeGreaterThanOrEqual(3);
      expect(batchesAfterWait).toBe(0);
      expect(calls.rxWait).toBeGreaterThan(0);
    });

    it('rings the tx doorbell once per flush, not once per frame, and not for an empty flush', () => {
      const frames = 16;
      const rxBefore = kernelRxPackets(nsB, link.b);
      d!.flush(0);
      const kicks0 = d!.stats.txKicks;
      d!.flush(0); // nothing queued
      expect(d!.stats.txKicks).toBe(kicks0);
      for (let i = 0; i < frames; i++) {
        const f = ethernet(BROADCAST, d!.hwAddress!, 0x88b5, new Uint8Array(46).fill(i));
        const buf = d!.txReserve(f.length)!;
        buf.set(f);
        d!.txCommit(0, f.length);
      }
      expect(d!.stats.txKicks).toBe(kicks0); // nothing rung while frames are only queued
      d!.flush(0);
      const kicks = d!.stats.txKicks - kicks0;
      expect(kicks).toBeGreaterThanOrEqual(1);
      // AF_PACKET: one send() for the batch. AF_XDP copy mode: the kernel takes a bounded batch per sendto, so a
      // few at most; either way far fewer than one per frame. A TAP has no doorbell: one write() per frame.
      if (kind.startsWith('AF_PACKET')) expect(kicks).toBe(1);
      else if (kind === 'TAP') expect(kicks).toBe(frames);
      else expect(kicks).toBeLessThanOrEqual(frames / 4);
      expect(d!.stats.txDropped).toBe(0);
      expect(kernelRxPackets(nsB, link.b) - rxBefore).toBeGreaterThanOrEqual(frames);
    });
  });
}

/**
 * Busy poll: no rxRelease call; the addon's next rxWait or rxBatch gives the last batch back. On rings of a few
 * slots (AF_PACKET V2: 8 frames; AF_XDP: 32 rx chunks and rings), many more echo requests than the ring holds must
 * all come through: a batch never given back would stall the ring once its slots ran out. (Seen by disabling the
 * give-back: AF_XDP stops at 32 frames; AF_PACKET V2 still recovers, as a spin that finds its own held slot and
 * takes an empty batch releases.)
 */
const busyKinds: Record<string, (ifname: string, netns: string) => NativeRingDriver> = {
  'AF_PACKET (TPACKET_V2)': (ifname, netns) =>
    openAfPacket({ ifname, netns, ipv4: BYWAY, tpacketVersion: 2, busyPoll: true, rxBlockSize: 4096, rxFrameSize: 4096, rxBlockCount: 8, maxBatch: 4 }),
  'AF_XDP (copy mode)': (ifname, netns) =>
    openAfXdp({ ifname, netns, ipv4: BYWAY, bindMode: 'copy', busyPoll: true, frameCount: 64, ringSize: 32, maxBatch: 4 }),
};
for (const [kind, open] of Object.entries(busyKinds)) {
  describePrivileged(`native busy poll, batches released by the next call: ${kind}`, () => {
    const lab = new NetLab();
    afterAll(async () => {
      await lab.stopProcesses();
      lab.destroy();
    });

    it('receives far more frames than the ring holds without one rxRelease call', async () => {
      const r = vethRig(lab, open);
      const d = r.d;
      try {
        const mac = Array.from(d.hwAddress!, (b) => b.toString(16).padStart(2, '0')).join(':');
        ipIn(r.ns, `neigh replace ${BYWAY} lladdr ${mac} dev ${r.kernelIf} nud permanent`);
        const rx = (d as unknown as { rx: { native: NativeAddon } }).rx;
        const real = rx.native;
        let releases = 0;
        rx.native = Object.create(real, { rxRelease: { value: (h: NativeHandle) => (releases++, real.rxRelease(h)) } }) as NativeAddon;
        const sent = 120;
        lab.spawnIn(r.ns, 'ping', ['-c', String(sent), '-i', '0.005', '-W', '1', BYWAY]);
        const deadline = Date.now() + 5000;
        let echoes = 0;
        while (echoes < sent && Date.now() < deadline) {
          if (d.wait(0, 10_000)) {
            d.receive(0, 64, (f) => {
              if (get16(f, 12) === 0x0800 && f[23] === 1 && get32(f, 30) === ip(BYWAY)) echoes++;
            });
          }
          await new Promise((resolve) => setImmediate(resolve));
        }
        rx.native = real;
        expect(releases).toBe(0);
        expect(echoes).toBeGreaterThanOrEqual(sent - 5); // a few may be lost to a loaded machine, not to the ring
        expect(d.stats.rxDropped).toBeLessThanOrEqual(5);
      } finally {
        await lab.stopProcesses();
        d.close();
      }
    });
  });
}
