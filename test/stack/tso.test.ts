/**
 * TCP segmentation offload through the whole stack, on the memory link's device model (drivers/memory/tso.ts),
 * and the per-frame checksum trust a driver reports with RxFlag. Virtual clock only.
 */
import { describe, expect, it } from 'vitest';
import { memoryLink } from '../../drivers/memory/index.js';
import { segmentTcp } from '../../drivers/memory/tso.js';
import { faults } from '../../drivers/middleware/index.js';
import { RxFlag, type ChecksumCapabilities, type FrameDriver } from '../../drivers/types.js';
import type { TcpConnection } from '../../protocols/tcp/connection.js';
import { verifyTcpChecksum } from '../../protocols/tcp/wire.js';
import { read16, read32 } from '../../protocols/util/bytes.js';
import { checksum } from '../../protocols/util/checksum.js';
import { ip, makePair, tapReceive } from './harness.js';

const OFFLOAD_VERIFY: ChecksumCapabilities = {
  ipv4: { tx: 'compute', rx: 'verify' },
  icmp: { tx: 'compute', rx: 'verify' },
  udp: { tx: 'compute', rx: 'verify' },
  tcp: { tx: 'offload', rx: 'verify' },
};


interface Seen {
  frame: Uint8Array;
  flags: number | undefined;
}


/** Delegates to `inner`, keeping a copy of every received frame. */
function recording(inner: FrameDriver, seen: Seen[]): FrameDriver {
  return tapReceive(inner, (frame, flags) => seen.push({ frame: frame.slice(), flags }));
}



describe('TCP segmentation offload (caps.tso) over the memory link', () => {
  // What the wire carries (MTU-sized segments, checksums, idents, PSH placement), cuts across 2^31 and 2^32, and
  // recovery from lost or reordered segments: test/stack/gso.test.ts, for this model and the stack's software GSO
  // alike (they share the cutter).

  it('is not offered TSO through impaired transmit (each segment must meet the faults alone)', () => {
    const [da] = memoryLink({ tso: 65535, checksum: OFFLOAD_VERIFY });
    expect(da.caps.tso?.maxBytes).toBe(65535);
    expect(faults(da, { seed: 1, tx: { loss: 0.1 } }).caps.tso).toBeUndefined();
    expect(faults(da, { seed: 1, rx: { loss: 0.1 } }).caps.tso?.maxBytes).toBe(65535);
  });

  it('refuses tso on a link whose TCP checksums are not offloaded', () => {
    expect(() => memoryLink({ tso: 65535 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => memoryLink({ tso: 1000, checksum: OFFLOAD_VERIFY })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
  });

  it('drops (and counts) a packet above the MTU that comes without a segment size', () => {
    const [da, db] = memoryLink({ tso: 65535, checksum: OFFLOAD_VERIFY });
    const buf = da.txReserve(3000)!;
    buf.fill(0);
    da.txCommit(0, 3000);
    expect(da.stats.txDropped).toBe(1);
    expect(db.queued).toBe(0);
  });
});

describe('segmentTcp (the device model)', () => {
  /** An Ethernet + IPv4 + TCP frame with timestamps option, `payload` bytes of data. */
  function tsoFrame(payload: number, flags: number): Uint8Array {
    const f = new Uint8Array(14 + 20 + 32 + payload);
    f[12] = 0x08;
    f[14] = 0x45;
    const total = 20 + 32 + payload;
    f[16] = total >> 8;
    f[17] = total & 0xff;
    f[18] = 0x12;
    f[19] = 0x34; // ident 0x1234
    f[20] = 0x40; // DF
    f[22] = 64;
    f[23] = 6;
    f.set([10, 0, 0, 1, 10, 0, 0, 2], 26);
    const t = 34;
    f.set([0x30, 0x39, 0x00, 0x50, 0xff, 0xff, 0xff, 0xf0], t); // ports, seq 0xfffffff0 (wraps)
    f[t + 12] = 8 << 4; // 32-byte header
    f[t + 13] = flags;
    f.set([1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2], t + 20);
    for (let i = 0; i < payload; i++) f[t + 32 + i] = i & 0xff;
    return f;
  }

  it('copies headers, fixes lengths, idents and sequence numbers, keeps CWR first and FIN/PSH last', () => {
    const frame = tsoFrame(2500, 0x80 | 0x10 | 0x08 | 0x01); // CWR ACK PSH FIN
    const out: Uint8Array[] = [];
    const n = segmentTcp(frame, frame.length, true, 1000, 1514, true, () => new Uint8Array(1514), (b, l) => out.push(b.slice(0, l)));
    expect(n).toBe(3);
    expect(out.map((b) => read16(b, 16) - 52)).toEqual([1000, 1000, 500]);
    expect(out.map((b) => read16(b, 18))).toEqual([0x1234, 0x1235, 0x1236]);
    expect(out.map((b) => read32(b, 38))).toEqual([0xfffffff0, (0xfffffff0 + 1000) >>> 0, (0xfffffff0 + 2000) >>> 0]);
    expect(out.map((b) => b[47])).toEqual([0x80 | 0x10, 0x10, 0x10 | 0x08 | 0x01]);
    for (const b of out) {
      expect(checksum(b, 14, 34)).toBe(0);
      expect(verifyTcpChecksum(b, 34, 14 + read16(b, 16), read32(b, 26), read32(b, 30))).toBe(true);
      expect(b.subarray(54, 66)).toEqual(frame.subarray(54, 66)); // options copied
    }
    // The payload comes through in order.
    const joined = new Uint8Array(2500);
    let o = 0;
    for (const b of out) {
      joined.set(b.subarray(66), o);
      o += b.length - 66;
    }
    expect(joined).toEqual(frame.subarray(66));
  });

  it('cuts nothing that is not an unfragmented IPv4 TCP packet, or whose segments would exceed the frame limit', () => {
    const take = () => new Uint8Array(1514);
    const none = () => {
      throw new Error('nothing may be emitted');
    };
    const udp = tsoFrame(2000, 0x10);
    udp[23] = 17;
    expect(segmentTcp(udp, udp.length, true, 1000, 1514, false, take, none)).toBe(0);
    const frag = tsoFrame(2000, 0x10);
    frag[20] = 0x20; // MF
    expect(segmentTcp(frag, frag.length, true, 1000, 1514, false, take, none)).toBe(0);
    const f = tsoFrame(4000, 0x10);
    expect(segmentTcp(f, f.length, true, 1500, 1514, false, take, none)).toBe(0);
    expect(segmentTcp(f, f.length, true, 0, 1514, false, take, none)).toBe(0);
    expect(segmentTcp(f, 100, true, 1000, 1514, false, take, none)).toBe(0); // truncated
  });
});

describe('per-frame checksum trust (RxFlag.L4ChecksumValid)', () => {
  /** B's driver passes `flags` with every frame and flips a payload bit in TCP data frames it receives. */
  function corrupting(inner: FrameDriver, flags: number): FrameDriver {
    return {
      ...recording(inner, []),
      receive: (now, max, sink) =>
        inner.receive(now, max, (frame) => {
          const ihl = (frame[14]! & 15) * 4;
          if (frame[23] === 6 && read16(frame, 16) - ihl - (frame[14 + ihl + 12]! >> 4) * 4 > 0) frame[frame.length - 1]! ^= 1;
          sink(frame, flags);
        }),
    };
  }

  it('skips the TCP checksum of a frame the driver vouches for, and checks the others', () => {
    const trusted = makePair({ wrapB: (d) => corrupting(d, RxFlag.L4ChecksumValid) });
    const listener = trusted.b.tcp!.listen(0, 80, 4);
    let server: TcpConnection | undefined;
    listener.onConnection = (c) => (server = c);
    const client = trusted.a.tcp!.connect(trusted.clock.now(), ip('10.0.0.2'), 80);
    trusted.run({ stopWhen: () => server !== undefined, until: 10_000 });
    client.send(trusted.clock.now(), new Uint8Array([1, 2, 3, 4]));
    const buf = new Uint8Array(16);
    let n = 0;
    trusted.run({ stopWhen: () => (n = server!.read(trusted.clock.now(), buf)) > 0, until: 20_000 });
    // The driver said valid, so the stack took the (corrupted) bytes: the trust is the driver's to give.
    expect(Array.from(buf.subarray(0, n))).toEqual([1, 2, 3, 5]);
    expect(trusted.b.stats.tcp!.badChecksum).toBe(0);

    const checked = makePair({ wrapB: (d) => corrupting(d, 0) });
    const l2 = checked.b.tcp!.listen(0, 80, 4);
    let s2: TcpConnection | undefined;
    l2.onConnection = (c) => (s2 = c);
    const c2 = checked.a.tcp!.connect(checked.clock.now(), ip('10.0.0.2'), 80);
    checked.run({ stopWhen: () => s2 !== undefined, until: 10_000 });
    c2.send(checked.clock.now(), new Uint8Array([1, 2, 3, 4]));
    checked.run({ until: checked.clock.now() + 3_000 });
    expect(checked.b.stats.tcp!.badChecksum).toBeGreaterThan(0);
    expect(s2!.read(checked.clock.now(), buf)).toBe(0);
  });

  it('loses the trust through impaired receive (faults may alter a frame)', () => {
    let passed: number | undefined = -1;
    const inner: FrameDriver = {
      ...recording(memoryLink()[0], []),
      receive: (_now, _max, sink) => {
        sink(new Uint8Array(60), RxFlag.L4ChecksumValid);
        return 1;
      },
    };
    faults(inner, { seed: 3, rx: { corrupt: 1 } }).receive(0, 1, (_f, flags) => (passed = flags));
    expect(passed).toBeUndefined();
    faults(inner, { seed: 3 }).receive(0, 1, (_f, flags) => (passed = flags));
    expect(passed).toBe(RxFlag.L4ChecksumValid);
  });
});
