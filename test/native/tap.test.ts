/**
 * TAP driver against the Linux kernel: byway sits on the far side of a TAP device inside a fresh namespace;
 * the kernel owns 10.77.1.1 on the device. Frame level only: an ARP request gets the kernel's ARP reply, an
 * ICMP echo request (hand-built, checksums from protocols/util/checksum.ts) gets the kernel's echo reply.
 */
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openTap, openTapQueues, type TapDriver } from '../../drivers/tap/index.js';
import { loadNative } from '../../drivers/native/index.js';
import { BywayError } from '../../drivers/types.js';
import { NetLab, describePrivileged, ipIn, uniqueName } from '../helpers/netns.js';
import { arpReplySender, arpRequest, echoReplyAt, ethernet, icmpEchoPacket, ip, sendFrame, udpPacket, waitFrame, type WaitStats } from './frames.js';

describePrivileged('TAP driver against the kernel', () => {
  const lab = new NetLab();
  let ns = '';
  let tap: TapDriver | undefined;
  const KERNEL = ip('10.77.1.1');
  const BYWAY = ip('10.77.1.2');

  beforeAll(() => {
    ns = lab.addNetns();
    tap = openTap({ name: uniqueName('bwt'), netns: ns, mtu: 1400 });
    ipIn(ns, `addr add 10.77.1.1/24 dev ${tap.ifname}`);
  });
  afterAll(() => {
    tap?.close();
    lab.destroy();
  });

  it('creates the device in the namespace, up, with the MTU asked for', () => {
    const t = tap!;
    expect(t.created).toBe(true);
    expect(t.caps.medium).toBe('ethernet');
    expect(t.caps.mtu).toBe(1400);
    expect(ipIn(ns, `link show ${t.ifname}`)).toMatch(/mtu 1400.*state (UP|UNKNOWN)/s);
    expect(t.hwAddress).toHaveLength(6);
    expect(t.hwAddress![0]! & 0x03).toBe(0x02); // locally administered unicast
  });

  it('ARP request for the kernel address gets the kernel ARP reply through receive()', async () => {
    const t = tap!;
    const stats: WaitStats = { wakeups: 0, seen: [] };
    sendFrame(t, arpRequest(t.hwAddress!, BYWAY, KERNEL));
    const reply = await waitFrame(t, (f) => arpReplySender(f, KERNEL, BYWAY) !== undefined, 3000, stats);
    expect(reply, `frames seen: ${stats.seen.length}`).toBeDefined();
    expect(Array.from(arpReplySender(reply!, KERNEL, BYWAY)!)).toEqual(Array.from(t.kernelHwAddress));
    expect(Array.from(reply!.subarray(0, 6))).toEqual(Array.from(t.hwAddress!)); // addressed to byway's MAC
    expect(t.stats.txFrames).toBeGreaterThanOrEqual(1);
    expect(t.stats.rxFrames).toBeGreaterThanOrEqual(1);
  });

  it('readiness: the ready callback fires from the event loop when the kernel sends a frame', async () => {
    const t = tap!;
    while (t.receive(0, 64, () => {}) > 0);
    expect(t.pollAt(0)).toBeUndefined();
    const mac = Array.from(t.hwAddress!, (b) => b.toString(16).padStart(2, '0')).join(':');
    ipIn(ns, `neigh replace 10.77.1.7 lladdr ${mac} dev ${t.ifname}`);
    const fired = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 3000);
      t.setReadyCallback(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    spawnSync('ip', ['netns', 'exec', ns, 'ping', '-c', '1', '-W', '0.2', '10.77.1.7'], { stdio: 'ignore', timeout: 5000 }); // no reply: exits 1
    expect(await fired).toBe(true);
    t.setReadyCallback(null);
    expect(t.pollAt(5)).toBe(5); // frames are waiting
    let echo = 0;
    t.receive(0, 64, (f) => {
      if (f[12] === 0x08 && f[23] === 1 && f[34] === 8) echo++;
    });
    expect(echo).toBe(1);
  });

  it('ICMP echo request gets the kernel echo reply with valid checksums', async () => {
    const t = tap!;
    const payload = new Uint8Array(56).map((_, i) => (i * 7) & 0xff);
    sendFrame(t, ethernet(t.kernelHwAddress, t.hwAddress!, 0x0800, icmpEchoPacket(BYWAY, KERNEL, 0x4242, 1, payload)));
    const f = await waitFrame(t, (f) => f[12] === 0x08 && f[13] === 0 && echoReplyAt(f, 14, KERNEL, BYWAY, 0x4242, 1) !== undefined);
    expect(f).toBeDefined();
    const r = echoReplyAt(f!, 14, KERNEL, BYWAY, 0x4242, 1)!;
    expect(r.ipChecksumOk).toBe(true);
    expect(r.icmpChecksumOk).toBe(true);
    expect(Array.from(r.payload)).toEqual(Array.from(payload));
  });

  it('a burst of echo requests all come back (batched tx and rx)', async () => {
    const t = tap!;
    const N = 50;
    for (let s = 0; s < N; s++) {
      const fr = ethernet(t.kernelHwAddress, t.hwAddress!, 0x0800, icmpEchoPacket(BYWAY, KERNEL, 0x5151, s, new Uint8Array(32)));
      const b = t.txReserve(fr.length)!;
      b.set(fr);
      t.txCommit(0, fr.length);
    }
    t.flush(0);
    const got = new Set<number>();
    await waitFrame(t, (f) => {
      for (let s = 0; s < N; s++) if (echoReplyAt(f, 14, KERNEL, BYWAY, 0x5151, s)) got.add(s);
      return got.size === N;
    });
    expect(got.size).toBe(N);
  });

  it('rejects misuse with stable codes', () => {
    const t = tap!;
    expect(() => t.txReserve(100_000)).toThrow(expect.objectContaining({ code: 'ERR_FRAME_TOO_BIG' }));
    expect(() => t.txCommit(0, 10)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_STATE' }));
    expect(() => openTap({ name: 'x'.repeat(20) })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => openTap({ name: uniqueName('bwt'), netns: 'byway-ghost-ns' })).toThrow(expect.objectContaining({ code: 'ENOENT' }));
  });

  it('attaches to an existing persistent TAP, and close() leaves it in place', () => {
    const name = lab.addTap(ns);
    const d = openTap({ name, netns: ns });
    expect(d.created).toBe(false);
    expect(d.ifname).toBe(name);
    d.close();
    expect(lab.linkExists(ns, name)).toBe(true);
  });

  it('gives a device it creates a 4096-frame queue; an existing device keeps its own unless queueLength is given', () => {
    expect(ipIn(ns, `link show ${tap!.ifname}`)).toMatch(/qlen 4096/);
    const name = lab.addTap(ns);
    const before = /qlen (\d+)/.exec(ipIn(ns, `link show ${name}`))![1];
    openTap({ name, netns: ns }).close();
    expect(/qlen (\d+)/.exec(ipIn(ns, `link show ${name}`))![1]).toBe(before);
    openTap({ name, netns: ns, queueLength: 2500 }).close();
    expect(ipIn(ns, `link show ${name}`)).toMatch(/qlen 2500/);
    expect(() => openTap({ name, netns: ns, queueLength: 0 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
  });

  it('multi-queue: one driver per queue on one device; vnet header mode moves frames too', async () => {
    const qs = openTapQueues({ name: uniqueName('bwq'), netns: ns, queues: 2 });
    try {
      expect(qs).toHaveLength(2);
      expect(qs[1]!.ifname).toBe(qs[0]!.ifname);
      expect(qs.every((q) => q.multiQueue)).toBe(true);
    } finally {
      for (const q of qs) q.close();
    }
    const v = openTap({ name: uniqueName('bwv'), netns: ns, vnetHdr: true });
    try {
      ipIn(ns, `addr add 10.77.9.1/24 dev ${v.ifname}`);
      sendFrame(v, arpRequest(v.hwAddress!, ip('10.77.9.2'), ip('10.77.9.1')));
      const reply = await waitFrame(v, (f) => arpReplySender(f, ip('10.77.9.1'), ip('10.77.9.2')) !== undefined);
      expect(reply).toBeDefined();
      expect(v.vnetHdr).toBe(true);
    } finally {
      v.close();
    }
  });

  it('checksum offload (vnet header): a UDP frame with a garbage checksum is accepted by the kernel only when offloaded', async () => {
    const unreachableFor = (port: number) => (f: Uint8Array): boolean =>
      f[12] === 0x08 && f[23] === 1 && f[34] === 3 && f[35] === 3 && ((f[64]! << 8) | f[65]!) === port;
    for (const offload of [false, true]) {
      // A distinct byway address per round: the kernel rate-limits unreachables per destination.
      const me = ip(offload ? '10.77.10.3' : '10.77.10.2');
      const v = openTap({ name: uniqueName('bwo'), netns: ns, vnetHdr: true, checksumOffload: offload });
      try {
        expect(v.caps.checksum.udp.tx).toBe(offload ? 'offload' : 'compute');
        ipIn(ns, `addr add 10.77.10.1/24 dev ${v.ifname}`);
        sendFrame(v, arpRequest(v.hwAddress!, me, ip('10.77.10.1'))); // the kernel learns our MAC
        expect(await waitFrame(v, (f) => arpReplySender(f, ip('10.77.10.1'), me) !== undefined)).toBeDefined();
        const p = udpPacket(me, ip('10.77.10.1'), 40000, 9, new Uint8Array([1, 2, 3, 4]));
        p[26] ^= 0x5a; // the UDP checksum is now wrong; with offload the driver replaces it with the pseudo-header sum
        sendFrame(v, ethernet(v.kernelHwAddress, v.hwAddress!, 0x0800, p));
        // A closed port draws ICMP port unreachable, but only for a datagram whose checksum the kernel accepts.
        const f = await waitFrame(v, unreachableFor(9), offload ? 3000 : 400);
        expect(f !== undefined, offload ? 'offloaded frame accepted' : 'bad checksum dropped').toBe(offload);
        if (!offload) {
          // Control: the same datagram with its checksum intact does draw the unreachable.
          sendFrame(v, ethernet(v.kernelHwAddress, v.hwAddress!, 0x0800, udpPacket(me, ip('10.77.10.1'), 40000, 9, new Uint8Array([1, 2, 3, 4]))));
          expect(await waitFrame(v, unreachableFor(9))).toBeDefined();
        }
      } finally {
        v.close();
      }
    }
    expect(() => openTap({ name: uniqueName('bwo'), netns: ns, checksumOffload: true })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
  });

  it('close() releases the fd and removes the device it created; further use throws ERR_DRIVER_CLOSED', () => {
    const native = loadNative();
    const before = native.openCount();
    const d = openTap({ name: uniqueName('bwc'), netns: ns });
    const view = d.txReserve(64)!;
    expect(native.openCount()).toBe(before + 1);
    expect(lab.linkExists(ns, d.ifname)).toBe(true);
    d.close();
    d.close(); // idempotent
    expect(native.openCount()).toBe(before);
    expect(lab.linkExists(ns, d.ifname)).toBe(false);
    expect(view.length).toBe(0); // the shared memory was detached, not left dangling
    expect(() => d.receive(0, 1, () => {})).toThrow(BywayError);
    expect(() => d.txReserve(10)).toThrow(expect.objectContaining({ code: 'ERR_DRIVER_CLOSED' }));
    expect(d.pollAt(0)).toBeUndefined();
  });

  it('a deleted device makes receive throw ENODEV instead of hanging', () => {
    const d = openTap({ name: uniqueName('bwd'), netns: ns });
    try {
      ipIn(ns, `link del ${d.ifname}`);
      expect(() => d.receive(0, 8, () => {})).toThrow(expect.objectContaining({ code: 'ENODEV' }));
    } finally {
      d.close();
    }
  });
});
