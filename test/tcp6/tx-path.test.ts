/**
 * The transmit path of TCP over IPv6 (src/stack/tcp6.ts): segments written in the driver's buffer, and the checksum
 * duty carried by each packet's token (TcpTxPacket.pseudoSum) rather than by state of the host between calls: IPv4
 * and IPv6 segments interleaved on one stack each get their own family's rule.
 */
import { describe, expect, it } from 'vitest';
import { forwardRest } from '../../drivers/middleware/forward.js';
import { TX_L4_OFFLOAD, type DriverCapabilities, type FrameDriver } from '../../drivers/types.js';
import { fillTcp6Checksum, verifyTcp6Checksum } from '../../protocols/ipv6/wire-l4.js';
import { verifyTcpChecksum } from '../../protocols/tcp/wire.js';
import { read16, read32 } from '../../protocols/util/bytes.js';
import { makePair6 } from '../ipv6/stack-helpers.js';
import { addrId, transfer6 } from './helpers.js';

/** Frames a stack sent, copied at txCommit; caps replaced (the memory link's, with `extra` on top). */
class Capture {
  readonly frames: Uint8Array[] = [];
  readonly caps: DriverCapabilities;
  private reserved: Uint8Array | null = null;
  constructor(
    private readonly inner: FrameDriver,
    extra: Partial<DriverCapabilities>,
  ) {
    this.caps = { ...inner.caps, ...extra };
    forwardRest(this, inner);
  }
  txReserve(len: number): Uint8Array | null {
    this.reserved = this.inner.txReserve(len);
    return this.reserved;
  }
  txCommit(now: number, len: number, segment?: number): boolean | void {
    const f = this.reserved!;
    this.frames.push(f.slice(0, len));
    // Play the device for IPv6 when it offers ipv6Offload: complete what the stack left (the receiver verifies).
    if (this.caps.ipv6Offload === true && read16(f, 12) === 0x86dd && f[20] === 6 && read16(f, 54 + 16) === 0) {
      fillTcp6Checksum(f, 54, 54 + read16(f, 18), f.subarray(22, 38), f.subarray(38, 54));
    }
    return segment === undefined ? this.inner.txCommit(now, len) : this.inner.txCommit(now, len, segment);
  }
}

/** Every frame the stack is handed, copied (a receive-side capture; views only, no zero-copy path). */
function recording(inner: FrameDriver, seen: Uint8Array[]): FrameDriver {
  const w = {
    receive(now: number, max: number, sink: (frame: Uint8Array, flags?: number) => void): number {
      return inner.receive(now, max, (frame, flags) => {
        seen.push(frame.slice());
        sink(frame, flags);
      });
    },
  };
  return forwardRest(w, inner) as unknown as FrameDriver;
}

/** TCP segments in the captured frames: [family, frame, start of TCP, end]. */
function tcpSegments(frames: Uint8Array[]): [4 | 6, Uint8Array, number, number][] {
  const out: [4 | 6, Uint8Array, number, number][] = [];
  for (const f of frames) {
    const type = read16(f, 12);
    if (type === 0x0800 && f[23] === 6) out.push([4, f, 14 + (f[14]! & 15) * 4, 14 + read16(f, 16)]);
    if (type === 0x86dd && f[20] === 6) out.push([6, f, 54, 54 + read16(f, 18)]);
  }
  return out;
}

/** Two connections from a, one per family, sending in turns so their segments interleave on a's driver. */
function interleave(extra: Partial<DriverCapabilities>): { segs: ReturnType<typeof tcpSegments>; delivered: number } {
  let cap: Capture | undefined;
  // The receiver trusts checksums (rx 'trusted'): what a sends with a checksum left to the device still arrives.
  const checksum = { ...TX_L4_OFFLOAD, tcp: { tx: 'offload', rx: 'trusted' } } as const;
  const p = makePair6(['10.0.0.1/24', 'fd00::1/64'], ['10.0.0.2/24', 'fd00::2/64'], {
    wrapA: (d) => (cap = new Capture(d, { ...extra, checksum })) as unknown as FrameDriver,
    wrapB: (d) => new Capture(d, { checksum }) as unknown as FrameDriver,
  });
  p.run(3_500);
  const listener = p.b.tcp!.listen(0, 80, 16, { family: 46 });
  let delivered = 0;
  const buf = new Uint8Array(65536);
  const servers: { read(now: number, b: Uint8Array): number }[] = [];
  listener.onConnection = (c) => servers.push(c);
  const c4 = p.a.tcp!.connect(p.clock.now(), addrId(p.a, '10.0.0.2'), 80);
  const c6 = p.a.tcp!.connect(p.clock.now(), addrId(p.a, 'fd00::2'), 80);
  const chunk = new Uint8Array(3000).fill(7);
  for (let i = 0; i < 40; i++) {
    const c = i % 2 === 0 ? c4 : c6;
    if (c.state === 'ESTABLISHED') c.send(p.clock.now(), chunk);
    p.run(p.clock.now() + 5, () => {
      for (const s of servers) for (let n = s.read(p.clock.now(), buf); n > 0; n = s.read(p.clock.now(), buf)) delivered += n;
      return false;
    });
  }
  return { segs: tcpSegments(cap!.frames), delivered };
}

describe('TCP over IPv6: transmit path', () => {
  it('with TCP checksum offload for IPv4 only, IPv4 segments leave it to the device and IPv6 ones carry a full checksum, interleaved', () => {
    const { segs, delivered } = interleave({});
    const v4 = segs.filter(([f]) => f === 4);
    const v6 = segs.filter(([f]) => f === 6);
    expect(v4.length).toBeGreaterThan(20);
    expect(v6.length).toBeGreaterThan(20);
    expect(delivered).toBeGreaterThan(40_000);
    // Data segments sent straight from the driver's buffer: IPv4's checksum field untouched (0), IPv6's complete.
    for (const [, f, s] of v4) expect(read16(f, s + 16)).toBe(0);
    for (const [, f, s, e] of v6) expect(verifyTcp6Checksum(f, s, e, f.subarray(22, 38), f.subarray(38, 54))).toBe(true);
    // Order on the wire: the families really alternate (no run of one family hides a flag left from the other).
    let switches = 0;
    for (let i = 1; i < segs.length; i++) if (segs[i]![0] !== segs[i - 1]![0]) switches++;
    expect(switches).toBeGreaterThan(10);
  });

  it("with the driver's ipv6Offload, IPv6 segments leave the checksum to the device too", () => {
    const { segs, delivered } = interleave({ ipv6Offload: true });
    const v6 = segs.filter(([f]) => f === 6);
    expect(v6.length).toBeGreaterThan(20);
    expect(delivered).toBeGreaterThan(40_000);
    // Sent from the driver's buffer: left to the device. (The SYN waited for NDP in a packet of its own: full.)
    const direct = v6.filter(([, f, s]) => read16(f, s + 16) === 0);
    expect(direct.length).toBe(v6.length - 1);
  });

  it('without offload both families carry complete checksums', () => {
    let cap: Capture | undefined;
    const q = makePair6(['10.0.0.1/24', 'fd00::1/64'], ['10.0.0.2/24', 'fd00::2/64'], { wrapA: (d) => (cap = new Capture(d, {})) as unknown as FrameDriver });
    q.run(3_500);
    q.b.tcp!.listen(0, 80, 16, { family: 46 });
    q.a.tcp!.connect(q.clock.now(), addrId(q.a, '10.0.0.2'), 80);
    q.a.tcp!.connect(q.clock.now(), addrId(q.a, 'fd00::2'), 80);
    q.run(q.clock.now() + 100);
    const segs = tcpSegments(cap!.frames);
    expect(segs.filter(([f]) => f === 4).length).toBeGreaterThan(1);
    expect(segs.filter(([f]) => f === 6).length).toBeGreaterThan(1);
    for (const [fam, f, s, e] of segs) {
      if (fam === 4) expect(verifyTcpChecksum(f, s, e, read32(f, 26), read32(f, 30))).toBe(true);
      else expect(verifyTcp6Checksum(f, s, e, f.subarray(22, 38), f.subarray(38, 54))).toBe(true);
    }
  });

  it('TSO over IPv6 on the memory link (its device model cuts GSO_TCPV6-like packets): 2 MB SHA-exact, MTU-sized valid segments on the wire', () => {
    const seen: Uint8Array[] = [];
    const big = { sendBuffer: 1 << 20, receiveBuffer: 1 << 20, maxReceiveBuffer: 1 << 20 };
    const checksum = { ...TX_L4_OFFLOAD, tcp: { tx: 'offload', rx: 'verify' } } as const;
    const p = makePair6(['fd00::1/64'], ['fd00::2/64'], {
      link: { tso: 65535, checksum },
      a: { tcp: big },
      b: { tcp: big },
      wrapB: (d) => recording(d, seen),
    });
    p.run(3_500);
    const size = 2_000_000;
    transfer6(p, 'fd00::2', size);
    const st = p.a.stats.ipv6!;
    expect(st.tsoPackets).toBeGreaterThan(10);
    const data = tcpSegments(seen).filter(([, f, s, e]) => e - s > (f[s + 12]! >> 4) * 4);
    expect(data.length).toBeGreaterThan(size / 1428);
    expect(st.tx).toBeLessThan(data.length / 4); // far fewer packets left a's IPv6 layer than segments reached b
    expect(st.tcpOut).toBeGreaterThanOrEqual(data.length); // tcpOut counts the segments on the wire
    for (const [fam, f, s, e] of data) {
      expect(fam).toBe(6);
      expect(f.length).toBeLessThanOrEqual(1514);
      expect(e - s - (f[s + 12]! >> 4) * 4).toBeLessThanOrEqual(1428);
      expect(verifyTcp6Checksum(f, s, e, f.subarray(22, 38), f.subarray(38, 54))).toBe(true);
    }
    expect(p.b.stats.ipv6!.tcpBadChecksum).toBe(0);
    expect(p.b.stats.gro!.merged).toBeGreaterThan(0); // and the receiver's GRO merges them back
  });
});
