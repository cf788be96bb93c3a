/**
 * Software GSO (src/stack/gso.ts): over a link without TSO, TCP over IPv4 and IPv6 builds packets of up to 64 KiB and the
 * stack cuts them into MTU-sized segments before the driver. What the wire carries must be what a sender without
 * GSO would send: MTU-sized segments, contiguous sequence numbers, valid IP and TCP checksums computed in
 * software, unique IP idents, PSH and FIN only on a packet's last segment. Virtual clock only.
 */
import { describe, expect, it } from 'vitest';
import { faults } from '../../drivers/middleware/index.js';
import type { FrameDriver } from '../../drivers/types.js';
import type { MemoryLinkOptions } from '../../drivers/memory/index.js';
import type { TcpConnection } from '../../protocols/tcp/connection.js';
import { verifyTcpChecksum } from '../../protocols/tcp/wire.js';
import { verifyTcp6Checksum } from '../../protocols/ipv6/wire-l4.js';
import { read16, read32 } from '../../protocols/util/bytes.js';
import { checksum } from '../../protocols/util/checksum.js';
import { ip, makePair, pattern, tapReceive, transfer } from './harness.js';
import { makePair6, v6 } from '../ipv6/stack-helpers.js';
import { addrId, transfer6 } from '../tcp6/helpers.js';
import { expectBytes } from '../helpers/bytes.js';

const BIG = { sendBuffer: 1 << 20, receiveBuffer: 1 << 20, maxReceiveBuffer: 1 << 20 };

/** The memory link's TSO model: TCP checksums completed by the device, verified by the receiver. */
const TSO_LINK: MemoryLinkOptions = {
  tso: 65535,
  checksum: {
    ipv4: { tx: 'compute', rx: 'verify' },
    icmp: { tx: 'compute', rx: 'verify' },
    udp: { tx: 'compute', rx: 'verify' },
    tcp: { tx: 'offload', rx: 'verify' },
  },
};

/** Who cuts: the stack (a link without TSO, software checksums) or the link's TSO model, and what counts it. */
const CUTTERS = [
  ['software GSO', {}, 'gsoPackets'],
  ['the memory link\'s TSO model', TSO_LINK, 'tsoPackets'],
] as const satisfies readonly (readonly [string, MemoryLinkOptions, 'gsoPackets' | 'tsoPackets'])[];

interface Segment {
  seq: number;
  len: number;
  ident: number;
  flags: number;
}

const isTcp = (f: Uint8Array): boolean => f.length >= 54 && f[12] === 0x08 && f[13] === 0x00 && f[23] === 6;

/**
 * Checks every TCP frame B received (length within the MTU, IP header checksum, TCP checksum by an independent
 * sum) and returns A's data segments in arrival order.
 */
function checkWire(frames: Uint8Array[]): Segment[] {
  const out: Segment[] = [];
  for (const frame of frames) {
    expect(frame.length).toBeLessThanOrEqual(1514);
    if (!isTcp(frame)) continue;
    const ihl = (frame[14]! & 15) * 4;
    const total = read16(frame, 16);
    expect(checksum(frame, 14, 14 + ihl)).toBe(0);
    expect(verifyTcpChecksum(frame, 14 + ihl, 14 + total, read32(frame, 26), read32(frame, 30))).toBe(true);
    const thl = (frame[14 + ihl + 12]! >> 4) * 4;
    const len = total - ihl - thl;
    if (len > 0) out.push({ seq: read32(frame, 14 + ihl + 4), len, ident: read16(frame, 18), flags: frame[14 + ihl + 13]! });
  }
  return out;
}

function recordB(frames: Uint8Array[]): (d: FrameDriver) => FrameDriver {
  return (d) => tapReceive(d, (frame) => frames.push(frame.slice()));
}

describe('software GSO over a link without TSO (software checksums)', () => {
  // The stack's cut and the memory link's TSO model share the cutter (protocols/tcp/segment-cut.ts): both must put
  // on the wire what a sender without either would.
  for (const [who, link, counter] of CUTTERS) {
    describe(who, () => {
      it('sends several segments per packet: the wire carries MTU-sized segments, valid checksums, contiguous, unique idents', () => {
        const frames: Uint8Array[] = [];
        const p = makePair({ link, wrapB: recordB(frames), configA: { tcp: BIG }, configB: { tcp: BIG } });
        const size = 1_000_000;
        const { got, client } = transfer(p, size);
        expectBytes(got, pattern(size));
        const st = p.a.stats.ipv4;
        expect(st[counter]).toBeGreaterThan(10);
        const segs = checkWire(frames);
        expect(segs.length).toBeGreaterThanOrEqual(Math.ceil(size / 1448));
        const ipFrames = frames.filter((f) => f[12] === 0x08 && f[13] === 0x00).length;
        if (counter === 'gsoPackets') {
          // Each GSO packet left as several segments, each counted as an IP datagram sent.
          expect(st.gsoSegments).toBeGreaterThan(st.gsoPackets * 4);
          expect(st.gsoSegments).toBeLessThanOrEqual(segs.length);
          expect(st.tx).toBe(ipFrames);
        } else expect(st.tx).toBeLessThan(segs.length / 4); // the device cut them: far fewer packets left A's IP layer
        let next = segs[0]!.seq;
        for (const s of segs) {
          expect(s.seq).toBe(next); // no loss here: contiguous
          expect(s.len).toBeLessThanOrEqual(1448);
          next = (s.seq + s.len) >>> 0;
        }
        expect(new Set(segs.map((s) => s.ident)).size).toBe(segs.length);
        expect(p.b.stats.tcp!.badChecksum).toBe(0);
        // TCP counts segments on the wire, as Linux's OutSegs does for a GSO packet.
        expect(client.info().segsOut).toBeGreaterThanOrEqual(segs.length);
        expect(p.a.stats.tcp!.segsOut).toBeGreaterThanOrEqual(segs.length);
      });

      it('puts PSH only on the last segment of a packet and cuts at the MSS the peer allows', () => {
        const frames: Uint8Array[] = [];
        const p = makePair({ link, wrapB: recordB(frames), configA: { tcp: BIG }, configB: { tcp: { ...BIG, mss: 1000 } } });
        const size = 300_000;
        expectBytes(transfer(p, size).got, pattern(size));
        expect(p.a.stats.ipv4[counter]).toBeGreaterThan(0);
        const segs = checkWire(frames);
        expect(Math.max(...segs.map((s) => s.len))).toBe(988);
        // Segments cut from one packet have consecutive idents: a PSH followed by the next ident at full size would
        // be a PSH inside a packet.
        let pshInside = 0;
        for (let i = 0; i + 1 < segs.length; i++) {
          if ((segs[i]!.flags & 0x08) !== 0 && segs[i + 1]!.ident === ((segs[i]!.ident + 1) & 0xffff) && segs[i]!.len === 988) pshInside++;
        }
        expect(pshInside).toBe(0);
      });

      it('sizes packets as Linux sizes GSO packets: from an initial window of 10, the first holds half of it', () => {
        const frames: Uint8Array[] = [];
        const p = makePair({ link, wrapB: recordB(frames), configA: { tcp: BIG }, configB: { tcp: BIG } });
        expectBytes(transfer(p, 200_000).got, pattern(200_000));
        // Every packet of several segments ends in PSH (push.ts); the first ends at the fifth segment (tcp_cwnd_test:
        // at most half of cwnd 10), where a packet of whatever the window allowed would have held all ten.
        const segs = checkWire(frames);
        expect(segs.slice(0, 5).map((s) => (s.flags & 0x08) !== 0)).toEqual([false, false, false, false, true]);
      });

      for (const [name, iss] of [
        ['2^32', 0xffffffff - 100_000],
        ['2^31', 0x7fffffff - 100_000],
      ] as const) {
        it(`cuts packets across ${name} of the sequence space`, () => {
          const frames: Uint8Array[] = [];
          const p = makePair({ link, wrapB: recordB(frames), configA: { tcp: { ...BIG, isn: () => iss } }, configB: { tcp: BIG } });
          const size = 400_000;
          expectBytes(transfer(p, size).got, pattern(size));
          expect(p.a.stats.ipv4[counter]).toBeGreaterThan(0);
          const segs = checkWire(frames);
          // Some segment starts before the boundary and ends past it, or starts exactly on it.
          const boundary = name === '2^32' ? 0 : 0x80000000;
          expect(segs.some((s) => s.seq === boundary || ((boundary - s.seq) >>> 0) < s.len)).toBe(true);
          expect(p.b.stats.tcp!.badChecksum).toBe(0);
        });
      }

      it('recovers segment by segment when cut segments are lost or reordered on receive', () => {
        const p = makePair({
          link,
          wrapB: (d) => faults(d, { seed: 7, rx: { loss: 0.03, reorder: 0.05, delayMs: 2 } }),
          configA: { tcp: BIG },
          configB: { tcp: BIG },
        });
        const size = 1_000_000;
        const { got, client } = transfer(p, size);
        expectBytes(got, pattern(size));
        expect(p.a.stats.ipv4[counter]).toBeGreaterThan(0);
        const info = client.info();
        expect(info.retransmits).toBeGreaterThan(0);
        // Retransmissions are single segments, not whole 64 KiB packets.
        expect(info.retransmits * 1448).toBeLessThan(size / 5);
      });
    });
  }

  it('is off with `gso: false`: TCP then builds one MTU-sized segment at a time', () => {
    const frames: Uint8Array[] = [];
    const p = makePair({ wrapB: recordB(frames), configA: { tcp: BIG, gso: false }, configB: { tcp: BIG } });
    const size = 200_000;
    expectBytes(transfer(p, size).got, pattern(size));
    expect(p.a.stats.ipv4.gsoPackets).toBe(0);
    const segs = checkWire(frames);
    expect(segs.length).toBeGreaterThanOrEqual(Math.ceil(size / 1448));
    expect(p.a.stats.ipv4.tx).toBe(frames.filter((f) => f[12] === 0x08 && f[13] === 0x00).length);
  });

  it('keeps what the driver has no room for and sends it first: nothing lost or reordered, no retransmission', () => {
    let calls = 0;
    let refused = 0;
    // A transmit ring that is full for one reservation in every 23 (no txLend: the stack uses txReserve).
    const tight = (inner: FrameDriver): FrameDriver => {
      const d = tapReceive(inner, () => {});
      return {
        ...d,
        get caps() {
          return inner.caps;
        },
        txReserve: (len) => {
          if (++calls % 23 === 0) {
            refused++;
            return null;
          }
          return inner.txReserve(len);
        },
      };
    };
    const frames: Uint8Array[] = [];
    const p = makePair({ wrapA: tight, wrapB: recordB(frames), configA: { tcp: BIG }, configB: { tcp: BIG } });
    const size = 500_000;
    const { got, client } = transfer(p, size);
    expectBytes(got, pattern(size));
    expect(refused).toBeGreaterThan(0);
    expect(p.a.stats.ipv4.gsoPackets).toBeGreaterThan(0);
    expect(p.a.stats.ipv4.txNoBuffer).toBeGreaterThan(0);
    // Every GSO packet is longer than 23 segments, so each met a refusal: its rest waited, then went first.
    const segs = checkWire(frames);
    let next = segs[0]!.seq;
    for (const s of segs) {
      expect(s.seq).toBe(next);
      next = (s.seq + s.len) >>> 0;
    }
    expect(client.info().retransmits).toBe(0);
  });

  it('cuts a packet that waited for ARP when the neighbour resolves', () => {
    const frames: Uint8Array[] = [];
    const p = makePair({ wrapB: recordB(frames), configA: { tcp: BIG }, configB: { tcp: BIG } });
    const listener = p.b.tcp!.listen(0, 80, 16);
    let server: TcpConnection | undefined;
    listener.onConnection = (c) => (server = c);
    const client = p.a.tcp!.connect(p.clock.now(), ip('10.0.0.2'), 80);
    p.run({ stopWhen: () => server !== undefined && client.state === 'ESTABLISHED' });
    p.a.neighbours.delete(ip('10.0.0.2'));
    const size = 100_000;
    const data = pattern(size);
    // One send fills the first window: its first packet waits for ARP.
    let sent = client.send(p.clock.now(), data);
    expect(p.a.stats.ipv4.gsoPackets).toBe(0);
    const got = new Uint8Array(size);
    let recvd = 0;
    const scratch = new Uint8Array(65536);
    p.run({
      stopWhen: () => {
        if (sent < size) sent += client.send(p.clock.now(), data.subarray(sent));
        for (let n = server!.read(p.clock.now(), scratch); n > 0; n = server!.read(p.clock.now(), scratch)) {
          got.set(scratch.subarray(0, n), recvd);
          recvd += n;
        }
        return recvd === size;
      },
      until: p.clock.now() + 60_000,
    });
    expect(recvd).toBe(size);
    expectBytes(got, data);
    expect(p.a.stats.ipv4.gsoPackets).toBeGreaterThan(0);
    checkWire(frames);
    expect(p.b.stats.tcp!.badChecksum).toBe(0);
  });

  it('cuts TCP over IPv6 too, with valid checksums over the IPv6 pseudo-header, and IPv4 beside it', () => {
    const frames: Uint8Array[] = [];
    const p = makePair6(['10.0.0.1/24', 'fd00::1/64'], ['10.0.0.2/24', 'fd00::2/64'], {
      a: { tcp: BIG },
      b: { tcp: BIG },
      wrapB: recordB(frames),
    });
    p.run(3_500); // duplicate address detection
    const size = 300_000;
    transfer6(p, 'fd00::2', size, { port: 80 });
    const st6 = p.a.stats.ipv6!;
    expect(st6.tsoPackets).toBe(0);
    expect(st6.gsoPackets).toBeGreaterThan(0);
    expect(st6.gsoSegments).toBeGreaterThan(st6.gsoPackets * 2);
    const v6Data = frames
      .filter((f) => f[12] === 0x86 && f[13] === 0xdd && f[20] === 6)
      .map((f) => ({ f, len: read16(f, 18) - ((f[54 + 12]! >> 4) * 4) }))
      .filter((x) => x.len > 0);
    expect(v6Data.length).toBeGreaterThanOrEqual(Math.ceil(size / 1428));
    let next = read32(v6Data[0]!.f, 54 + 4);
    for (const { f, len } of v6Data) {
      expect(f.length).toBeLessThanOrEqual(1514);
      expect(verifyTcp6Checksum(f, 54, 54 + read16(f, 18), f.subarray(22, 38), f.subarray(38, 54))).toBe(true);
      expect(read32(f, 54 + 4)).toBe(next);
      next = (next + len) >>> 0;
    }
    expect(p.b.stats.ipv6!.tcpBadChecksum).toBe(0);
    transfer6(p, '10.0.0.2', size, { port: 81 });
    expect(p.a.stats.ipv4.gsoPackets).toBeGreaterThan(0);
    for (const f of frames) expect(f.length).toBeLessThanOrEqual(1514);
  });

  for (const [who, link] of CUTTERS) {
    it(`cuts an IPv6 packet that waits for NDP into segments (queued one by one), never IPv6 fragments: ${who}`, () => {
      const frames: Uint8Array[] = [];
      const p = makePair6(['fd00::1/64'], ['fd00::2/64'], { link, a: { tcp: BIG }, b: { tcp: BIG }, wrapB: recordB(frames) });
      p.run(3_500); // duplicate address detection
      const listener = p.b.tcp!.listen(0, 80, 16, { family: 46 });
      let server: TcpConnection | undefined;
      listener.onConnection = (c) => (server = c);
      const peer = addrId(p.a, 'fd00::2');
      const client = p.a.tcp!.connect(p.clock.now(), peer, 80);
      p.run(p.clock.now() + 5_000, () => server !== undefined && client.state === 'ESTABLISHED');
      p.a.ipv6!.ndp.neighbours.delete(v6('fd00::2'));
      const size = 100_000;
      const data = pattern(size);
      let sent = client.send(p.clock.now(), data); // the first packet waits for NDP
      const got = new Uint8Array(size);
      let recvd = 0;
      const scratch = new Uint8Array(65536);
      p.run(p.clock.now() + 60_000, () => {
        if (sent < size) sent += client.send(p.clock.now(), data.subarray(sent));
        for (let n = server!.read(p.clock.now(), scratch); n > 0; n = server!.read(p.clock.now(), scratch)) {
          got.set(scratch.subarray(0, n), recvd);
          recvd += n;
        }
        return recvd === size;
      });
      expect(recvd).toBe(size);
      expectBytes(got, data);
      const v6Frames = frames.filter((f) => f[12] === 0x86 && f[13] === 0xdd);
      expect(v6Frames.some((f) => f[20] === 44)).toBe(false); // no fragment header
      expect(p.a.stats.ipv6!.fragmentsSent).toBe(0);
      for (const f of v6Frames) expect(f.length).toBeLessThanOrEqual(1514);
      expect(p.b.stats.ipv6!.tcpBadChecksum).toBe(0);
    });
  }
});
