/**
 * AF_PACKET with TCP segmentation offload (openAfPacket({ tso: true }): PACKET_VNET_HDR) against the Linux kernel.
 *
 * A veth pair between two namespaces, tx checksum offload off on both ends (as in the benchmark): byway owns
 * 10.77.31.2 on vethA (namespace A, no kernel address there) through AF_PACKET; the kernel in namespace B owns
 * 10.77.31.1 on vethB. A 64 KiB frame byway puts in the tx ring is cut by the kernel's software GSO on vethA's
 * way out (validate_xmit_skb), with software checksums, so B sees MTU-sized segments.
 *
 * (a) frame level: one GSO frame becomes segments on the wire (captured on vethB by a second AF_PACKET socket)
 *     with the right seq, lengths, ident, flags, options and valid checksums; B's TCP counts no checksum error;
 *     a plain TCP frame and a UDP datagram get their checksums from the kernel (NEEDS_CSUM).
 * (b) receive: frames from a kernel sender with tx checksum offload on arrive partial and flagged
 *     RxFlag.L4ChecksumValid; from one without it, unflagged with complete checksums.
 * (c) the whole stack: 8 MiB each way against socat in B, SHA-256 checked, with the stack's TSO counters.
 * Both TPACKET versions are tried for open and the frame-level checks.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createStack } from '../../src/index.js';
import { openAfPacket, type AfPacketDriver } from '../../drivers/af-packet/index.js';
import { RxFlag, type FrameDriver } from '../../drivers/types.js';
import { checksum, finish, onesSum, pseudoHeaderSum } from '../../protocols/util/checksum.js';
import { NetLab, describePrivileged, execIn, ipIn } from '../helpers/netns.js';
import { counting, sendToKernel, takeFromKernel } from './tso-lab.js';
import { arpReplySender, arpRequest, echoReplyAt, ethernet, get16, get32, icmpEchoPacket, ip, tsOption, udpPacket, waitFrame, writeTcpFrame } from './frames.js';

const KERNEL = ip('10.77.31.1');
const BYWAY = ip('10.77.31.2');
const SEGMENT = 1448; // MSS 1460 less the 12 bytes of the timestamps option

const FIN = 0x01;
const PSH = 0x08;
const ACK = 0x10;
const CWR = 0x80;

function pattern(n: number, salt: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 131 + (i >>> 9) + salt) & 0xff;
  return b;
}

function tcpCounters(ns: string): { inSegs: number; inCsumErrors: number } {
  const lines = execIn(ns, 'cat', ['/proc/net/snmp']).split('\n').filter((l) => l.startsWith('Tcp:'));
  const names = lines[0]!.split(/\s+/);
  const vals = lines[1]!.split(/\s+/).map(Number);
  return { inSegs: vals[names.indexOf('InSegs')]!, inCsumErrors: vals[names.indexOf('InCsumErrors')]! };
}

/** Receive on `d` for `ms` (or until `done`), collecting copies of the frames `keep` accepts. */
async function collect(d: FrameDriver, keep: (f: Uint8Array, flags: number) => boolean, done: (n: number) => boolean, ms: number) {
  const got: { frame: Uint8Array; flags: number }[] = [];
  const end = Date.now() + ms;
  while (!done(got.length) && Date.now() < end) {
    const n = d.receive(0, 64, (f, flags) => {
      if (keep(f, flags ?? 0)) got.push({ frame: f.slice(), flags: flags ?? 0 });
    });
    if (n === 0) await new Promise((r) => setTimeout(r, 2));
  }
  return got;
}

const hex = (mac: Uint8Array): string => Array.from(mac, (b) => b.toString(16).padStart(2, '0')).join(':');

describePrivileged('AF_PACKET with TCP segmentation offload against the kernel', () => {
  const lab = new NetLab();
  let nsA = '';
  let nsB = '';
  let link = { a: '', b: '' };
  let kernelMac = new Uint8Array(6);
  let cap: AfPacketDriver | undefined;
  let dir = '';
  const data = randomBytes(8 << 20);
  const sha = createHash('sha256').update(data).digest('hex');

  beforeAll(() => {
    nsA = lab.addNetns('bwpt-');
    nsB = lab.addNetns('bwpt-');
    link = lab.addVeth(nsA, nsB, { addrB: '10.77.31.1/24' }); // tx checksum offload off both ends
    kernelMac = new Uint8Array(
      /link\/ether ([0-9a-f:]+)/
        .exec(ipIn(nsB, `link show ${link.b}`))![1]!
        .split(':')
        .map((h) => parseInt(h, 16)),
    );
    // Watch B's end of the veth: what the kernel's GSO made of byway's frames, as on a wire.
    cap = openAfPacket({ ifname: link.b, netns: nsB, filter: false, tpacketVersion: 2 });
    dir = mkdtempSync(join(tmpdir(), 'bwpt-'));
    writeFileSync(join(dir, 'data'), data);
  });
  afterAll(async () => {
    cap?.close();
    await lab.stopProcesses(500);
    lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('opens with TSO caps and 64 KiB tx frames; refuses a bad tso option or tx frames too small for it', () => {
    const d = openAfPacket({ ifname: link.a, netns: nsA, ipv4: '10.77.31.2', tso: true, tpacketVersion: 2 });
    try {
      expect(d.tso).toBe(true);
      expect(d.qdiscBypass).toBe(false);
      expect(d.caps.tso).toEqual({ maxBytes: 65535 });
      expect(d.caps.rxMaxPacket).toBe(65535);
      expect(d.caps.checksum.tcp).toEqual({ tx: 'offload', rx: 'verify' });
      expect(d.caps.checksum.udp).toEqual({ tx: 'offload', rx: 'verify' });
      expect(d.caps.checksum.ipv4.tx).toBe('compute');
      expect(d.frameCap).toBeGreaterThanOrEqual(65535 + 18);
      expect(d.txReserve(65535 + 14)).not.toBeNull();
      d.txCommit(0, 0); // give it back as an empty frame (the kernel refuses it)
      d.flush(0);
    } finally {
      d.close();
    }
    const plain = openAfPacket({ ifname: link.a, netns: nsA, filter: false });
    try {
      expect(plain.tso).toBe(false);
      expect(plain.caps.tso).toBeUndefined();
      expect(plain.caps.checksum.tcp.tx).toBe('compute');
      expect(plain.frameCap).toBeLessThan(2048);
    } finally {
      plain.close();
    }
    expect(() => openAfPacket({ ifname: link.a, netns: nsA, tso: 1 as unknown as boolean })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => openAfPacket({ ifname: link.a, netns: nsA, tso: true, txFrameSize: 4096 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => openAfPacket({ ifname: link.a, netns: nsA, tso: true, qdiscBypass: true })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
  });

  for (const version of [2, 3] as const) {
    it(`TPACKET_V${version}: ARP and ICMP still work through the virtio header both ways`, async () => {
      const me = ip(`10.77.31.${10 + version}`);
      const d = openAfPacket({ ifname: link.a, netns: nsA, ipv4: `10.77.31.${10 + version}`, tso: true, tpacketVersion: version, hwAddress: new Uint8Array([2, 0, 0, 0, 0x31, version]) });
      try {
        expect(d.tpacketVersion).toBe(version);
        const send = (f: Uint8Array): void => {
          const b = d.txReserve(f.length)!;
          b.set(f);
          d.txCommit(0, f.length);
          d.flush(0);
        };
        send(arpRequest(d.hwAddress!, me, KERNEL));
        const reply = await waitFrame(d, (f) => arpReplySender(f, KERNEL, me) !== undefined);
        expect(reply && Array.from(arpReplySender(reply, KERNEL, me)!)).toEqual(Array.from(kernelMac));
        const payload = pattern(1000, version);
        send(ethernet(kernelMac, d.hwAddress!, 0x0800, icmpEchoPacket(me, KERNEL, 0x3131, version, payload)));
        const f = await waitFrame(d, (f) => echoReplyAt(f, 14, KERNEL, me, 0x3131, version) !== undefined);
        expect(f).toBeDefined();
        const r = echoReplyAt(f!, 14, KERNEL, me, 0x3131, version)!;
        // The frame starts at the Ethernet header (the virtio header before it is skipped) and is whole.
        expect(r.ipChecksumOk && r.icmpChecksumOk).toBe(true);
        expect(Array.from(r.payload)).toEqual(Array.from(payload));
      } finally {
        d.close();
      }
    });

    it(`TPACKET_V${version}: one 64 KiB frame leaves vethA as MTU-sized segments with the right headers and checksums`, async () => {
      const d = openAfPacket({ ifname: link.a, netns: nsA, ipv4: '10.77.31.2', tso: true, tpacketVersion: version });
      try {
        const before = tcpCounters(nsB);
        while (cap!.receive(0, 256, () => {}) > 0);
        const payload = pattern(65535 - 20 - 32, version); // the largest IP packet: 65535 bytes
        const seq = 0x7000_0000 + version;
        const opts = tsOption(0x01020304, 0x0a0b0c0d);
        const id = 0x1230 + version;
        const port = 5200 + version;
        const len = 14 + 20 + 32 + payload.length;
        const buf = d.txReserve(len)!;
        expect(buf).not.toBeNull();
        expect(writeTcpFrame(buf, kernelMac, d.hwAddress!, { src: BYWAY, dst: KERNEL, sport: 4444, dport: port, seq, ack: 77, flags: CWR | ACK | PSH | FIN, options: opts, payload, id }, false)).toBe(len);
        d.txCommit(0, len, SEGMENT);
        d.flush(0);
        const want = Math.ceil(payload.length / SEGMENT);
        const mine = (f: Uint8Array): boolean => f.length >= 54 && get16(f, 12) === 0x0800 && f[23] === 6 && get16(f, 34) === 4444 && get16(f, 36) === port;
        const segs = (await collect(cap!, mine, (n) => n >= want, 3000)).map((s) => s.frame);
        expect(segs.length).toBe(want);
        segs.sort((x, y) => get32(x, 38) - get32(y, 38));
        const id0 = get16(segs[0]!, 18);
        expect(id0).toBe(id);
        segs.forEach((f, i) => {
          const n = Math.min(SEGMENT, payload.length - i * SEGMENT);
          const total = get16(f, 16);
          expect(total).toBe(20 + 32 + n);
          expect(total).toBeLessThanOrEqual(1500);
          expect(get32(f, 38)).toBe(seq + i * SEGMENT);
          expect(get32(f, 42)).toBe(77);
          expect(get16(f, 18)).toBe((id0 + i) & 0xffff);
          expect(f[20]! & 0x40).toBe(0x40); // DF
          expect(checksum(f, 14, 34)).toBe(0);
          expect(checksum(f, 34, 14 + total, pseudoHeaderSum(BYWAY, KERNEL, 6, total - 20))).toBe(0);
          expect(Array.from(f.subarray(54, 66))).toEqual(Array.from(opts));
          const flags = f[47]!;
          expect(flags & ACK).toBe(ACK);
          expect(flags & CWR).toBe(i === 0 ? CWR : 0);
          expect(flags & (FIN | PSH)).toBe(i === want - 1 ? FIN | PSH : 0);
          expect(Array.from(f.subarray(66, 14 + total))).toEqual(Array.from(payload.subarray(i * SEGMENT, i * SEGMENT + n)));
        });
        // B's TCP took every segment (it answers a RST: no listener) and found no bad checksum.
        const after = tcpCounters(nsB);
        expect(after.inSegs - before.inSegs).toBeGreaterThanOrEqual(want);
        expect(after.inCsumErrors).toBe(before.inCsumErrors);
      } finally {
        d.close();
      }
    });
  }

  it('a plain TCP frame and a UDP datagram get their transport checksums from the kernel', async () => {
    const d = openAfPacket({ ifname: link.a, netns: nsA, ipv4: '10.77.31.2', tso: true, tpacketVersion: 2 });
    try {
      while (cap!.receive(0, 256, () => {}) > 0);
      // TCP committed with a segment larger than its payload: goes as a plain frame, checksum offloaded.
      const payload = pattern(700, 3);
      const len = 14 + 40 + payload.length;
      const b = d.txReserve(len)!;
      writeTcpFrame(b, kernelMac, d.hwAddress!, { src: BYWAY, dst: KERNEL, sport: 4445, dport: 5301, seq: 1, ack: 0, flags: ACK, options: new Uint8Array(0), payload, id: 9 }, false);
      d.txCommit(0, len, SEGMENT);
      // UDP with a zero checksum field: offloaded too (the stack leaves it alone when caps say 'offload').
      const udp = ethernet(kernelMac, d.hwAddress!, 0x0800, udpPacket(BYWAY, KERNEL, 4446, 5302, pattern(300, 4)));
      udp[40] = 0;
      udp[41] = 0;
      const u = d.txReserve(udp.length)!;
      u.set(udp);
      d.txCommit(0, udp.length);
      d.flush(0);
      const got = await collect(cap!, (f) => f.length >= 42 && get16(f, 12) === 0x0800 && get32(f, 26) === BYWAY && (get16(f, 36) === 5301 || get16(f, 36) === 5302), (n) => n >= 2, 3000);
      expect(got.length).toBe(2);
      for (const { frame: f } of got) {
        const total = get16(f, 16);
        const proto = f[23]!;
        expect(get16(f, 34 + (proto === 6 ? 16 : 6))).not.toBe(0);
        expect(finish(onesSum(f, 34, 14 + total, pseudoHeaderSum(BYWAY, KERNEL, proto, total - 20)))).toBe(0);
      }
    } finally {
      d.close();
    }
  });

  const udpTo = (port: number) => (f: Uint8Array): boolean => f.length >= 42 && get16(f, 12) === 0x0800 && f[23] === 17 && get16(f, 36) === port;

  for (const version of [2, 3] as const) {
    it(`TPACKET_V${version} receive: a partial checksum from a kernel sender with tx offload is flagged and left partial; a complete one is not flagged`, async () => {
      const ns1 = lab.addNetns('bwpt-');
      const ns2 = lab.addNetns('bwpt-');
      const partial = lab.addVeth(ns1, ns2, { addrB: '10.77.32.1/24', txChecksumOffload: true });
      const x = openAfPacket({ ifname: partial.a, netns: ns1, tso: true, tpacketVersion: version });
      const y = openAfPacket({ ifname: link.a, netns: nsA, ipv4: '10.77.31.2', tso: true, tpacketVersion: version });
      try {
        ipIn(ns2, `neigh replace 10.77.32.2 lladdr ${hex(x.hwAddress!)} dev ${partial.b}`);
        ipIn(nsB, `neigh replace 10.77.31.2 lladdr ${hex(y.hwAddress!)} dev ${link.b}`);
        execIn(ns2, 'bash', ['-c', "printf 'partial-sum' > /dev/udp/10.77.32.2/4444"]);
        const [p] = await collect(x, udpTo(4444), (n) => n >= 1, 3000);
        expect(p).toBeDefined();
        expect(p!.flags & RxFlag.L4ChecksumValid).toBe(RxFlag.L4ChecksumValid);
        // Left partial: the field holds the pseudo-header sum (folded, not complemented), not the checksum.
        const ulen = get16(p!.frame, 38);
        const pseudo = pseudoHeaderSum(get32(p!.frame, 26), get32(p!.frame, 30), 17, ulen);
        expect(get16(p!.frame, 40)).toBe(pseudo);
        expect(new TextDecoder().decode(p!.frame.subarray(42, 34 + ulen))).toBe('partial-sum');
        expect(x.checksumsCompleted).toBe(0);
        execIn(nsB, 'bash', ['-c', `printf 'full-sum' > /dev/udp/10.77.31.2/${4445 + version}`]);
        const [q] = await collect(y, udpTo(4445 + version), (n) => n >= 1, 3000);
        expect(q).toBeDefined();
        expect(q!.flags & RxFlag.L4ChecksumValid).toBe(0);
        const qlen = get16(q!.frame, 38);
        expect(finish(onesSum(q!.frame, 34, 34 + qlen, pseudoHeaderSum(KERNEL, BYWAY, 17, qlen)))).toBe(0);
      } finally {
        x.close();
        y.close();
      }
    });
  }

  function openStack() {
    const driver = counting(openAfPacket({ ifname: link.a, netns: nsA, ipv4: '10.77.31.2', tso: true, tpacketVersion: 2 }));
    const stack = createStack({ driver, address: '10.77.31.2/24' });
    return { driver, stack };
  }

  it('the stack sends 8 MiB to the kernel in TSO packets (SHA-256 checked by the kernel side)', async () => {
    const { stack } = openStack();
    try {
      const before = tcpCounters(nsB);
      const r = await sendToKernel(stack, nsB, '10.77.31.2', 7101, data);
      expect(r.timedOut).toBe(false);
      expect(r.sha256).toBe(sha);
      const ipStats = stack.core.stats.ipv4;
      // Most of 8 MiB left as packets the kernel cut: at least 100 of them, and far fewer IP packets than segments.
      expect(ipStats.tsoPackets).toBeGreaterThan(100);
      expect(ipStats.tx).toBeLessThan((8 << 20) / 1448 / 4);
      const after = tcpCounters(nsB);
      expect(after.inSegs - before.inSegs).toBeGreaterThanOrEqual((8 << 20) / 1448);
      expect(after.inCsumErrors).toBe(before.inCsumErrors);
    } finally {
      await stack.close();
    }
  }, 40_000);

  it('the stack takes 8 MiB from the kernel with tso on (SHA-256 checked)', async () => {
    const { driver, stack } = openStack();
    try {
      const r = await takeFromKernel(stack, nsB, '10.77.31.2', 7102, join(dir, 'data'));
      expect(r.socat.code).toBe(0);
      expect(r.bytes).toBe(data.length);
      expect(r.sha256).toBe(sha);
      // B's veth has no checksum offload: every segment arrives with a complete checksum the stack verified.
      expect(driver.frames).toBeGreaterThan((8 << 20) / 1500);
      expect(driver.vouched).toBe(0);
      expect(stack.core.stats.tcp!.badChecksum).toBe(0);
    } finally {
      await stack.close();
    }
  }, 40_000);
});
