import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { fromHex, toHex } from '../../protocols/util/bytes.js';
import {
  TcpFlag,
  TcpPacket,
  emitTcp,
  emptyTcpFields,
  fillTcpChecksum,
  parseTcp,
  parseTcpInto,
  tcpBufferLen,
  tcpHeaderLen,
  verifyTcpChecksum,
  type TcpRepr,
} from '../../protocols/tcp/wire.js';

const A = 0x0a000001; // 10.0.0.1
const B = 0x0a000002; // 10.0.0.2

// A Linux-style SYN 10.0.0.1:41668 -> 10.0.0.2:80 with MSS 1460, SACK-permitted, timestamps, NOP, wscale 7
// (checksum computed independently with a Python RFC 1071 implementation).
const SYN_HEX = 'a2c400505e3a1f2b00000000a002faf0ed3c0000020405b40402080a001a2b3c0000000001030307';
// Its SYN-ACK from 10.0.0.2:80.
const SYNACK_HEX = '0050a2c4123456785e3a1f2ca012fe883e980000020405b40402080a000f4240001a2b3c01030307';

describe('TCP wire: fixtures', () => {
  it('parses a SYN with options and verifies its checksum', () => {
    const b = fromHex(SYN_HEX);
    const p = TcpPacket.checked(b)!;
    expect(p).toBeDefined();
    expect(p.verifyChecksum(A, B)).toBe(true);
    expect(p.verifyChecksum(A, 0x0a000003)).toBe(false);
    const r = parseTcp(p)!;
    expect(r).toEqual({
      srcPort: 41668, dstPort: 80, seq: 0x5e3a1f2b, ack: 0, flags: TcpFlag.SYN, window: 64240, urgent: 0,
      mss: 1460, wscale: 7, sackPermitted: true, sackBlocks: [], tsVal: 0x1a2b3c, tsEcr: 0, payloadLen: 0,
    });
  });

  it('parses a SYN-ACK and re-emits it byte for byte (Linux option layout)', () => {
    const b = fromHex(SYNACK_HEX);
    const p = TcpPacket.checked(b)!;
    expect(p.verifyChecksum(B, A)).toBe(true);
    const r = parseTcp(p)!;
    expect(r.flags).toBe(TcpFlag.SYN | TcpFlag.ACK);
    expect(r.ack).toBe(0x5e3a1f2c);
    expect(r.tsEcr).toBe(0x1a2b3c);
    const out = new Uint8Array(tcpBufferLen(r));
    expect(emitTcp(r, out)).toBe(40);
    fillTcpChecksum(out, 0, out.length, B, A);
    expect(toHex(out)).toBe(SYNACK_HEX);
  });

  it('emits NOP NOP SACK blocks after timestamps, at most 3 with timestamps', () => {
    const r: TcpRepr = {
      ...emptyTcpFields(), srcPort: 1, dstPort: 2, seq: 10, ack: 20, flags: TcpFlag.ACK, window: 100,
      tsVal: 5, tsEcr: 6, sackBlocks: [1, 2, 3, 4, 5, 6, 7, 8],
    };
    expect(tcpHeaderLen(r)).toBe(20 + 12 + 4 + 24);
    const out = new Uint8Array(tcpHeaderLen(r));
    emitTcp(r, out);
    const back = parseTcp(TcpPacket.checked(out)!)!;
    expect(back.sackBlocks).toEqual([1, 2, 3, 4, 5, 6]);
    const noTs = { ...r, tsVal: undefined, tsEcr: undefined };
    expect(tcpHeaderLen(noTs)).toBe(20 + 4 + 32);
  });
});

// Captured with tshark on a veth pair between two network namespaces (Linux 6.18, checksum offload off),
// socat 10.77.0.1:53562 -> 10.77.0.2:8080 sending "hello\n": SYN, SYN-ACK, data, FIN (TCP bytes only).
const CAPTURE: Array<[string, number, number, string]> = [
  ['SYN', 0x0a4d0001, 0x0a4d0002, 'd13a1f90fda5f33e00000000a002faf022bc0000020405b40402080a5e29d5da000000000103030a'],
  ['SYN-ACK', 0x0a4d0002, 0x0a4d0001, '1f90d13a60e94434fda5f33fa012fe88f7fc0000020405b40402080a9aa9e74e5e29d5da0103030a'],
  ['data', 0x0a4d0001, 0x0a4d0002, 'd13a1f90fda5f33f60e944358018003fe12b00000101080a5e29d5da9aa9e74e68656c6c6f0a'],
  ['FIN', 0x0a4d0001, 0x0a4d0002, 'd13a1f90fda5f34560e944358011003f250f00000101080a5e29d5da9aa9e74e'],
];

describe('TCP wire: real Linux captures', () => {
  for (const [name, src, dst, hex] of CAPTURE) {
    it(`${name}: checksum verifies, and parse then emit reproduces the bytes`, () => {
      const b = fromHex(hex);
      const p = TcpPacket.checked(b)!;
      expect(p.verifyChecksum(src, dst)).toBe(true);
      const r = parseTcp(p)!;
      expect(r.srcPort === 53562 || r.dstPort === 53562).toBe(true);
      const out = new Uint8Array(tcpBufferLen(r));
      const hl = emitTcp(r, out);
      out.set(p.payload, hl);
      fillTcpChecksum(out, 0, out.length, src, dst);
      expect(toHex(out)).toBe(hex);
    });
  }
  it('decodes the data segment', () => {
    const r = parseTcp(TcpPacket.checked(fromHex(CAPTURE[2]![3]))!)!;
    expect(r).toMatchObject({ flags: TcpFlag.ACK | TcpFlag.PSH, seq: 0xfda5f33f, ack: 0x60e94435, window: 63, payloadLen: 6, tsVal: 0x5e29d5da, tsEcr: 0x9aa9e74e, sackPermitted: false });
  });
  it('the usual NOP NOP timestamps layout, parsed into fields a SYN filled, keeps nothing of the SYN', () => {
    const f = emptyTcpFields();
    expect(parseTcpInto(fromHex(SYN_HEX), f)).toBe(true);
    expect(f.mss).toBe(1460);
    const data = fromHex(CAPTURE[2]![3]);
    expect(data[12]! >>> 4).toBe(8); // 32-byte header: NOP, NOP, TS
    expect(parseTcpInto(data, f)).toBe(true);
    expect(f).toMatchObject({ mss: undefined, wscale: undefined, sackPermitted: false, sackBlocks: [], tsVal: 0x5e29d5da | 0, tsEcr: 0x9aa9e74e | 0, payloadLen: 6 });
    // The same bytes with the NOPs as one unknown 2-byte option: the general loop, the same timestamps.
    const other = data.slice();
    other[20] = 30;
    other[21] = 2;
    const g = emptyTcpFields();
    expect(parseTcpInto(other, g)).toBe(true);
    expect([g.tsVal, g.tsEcr]).toEqual([f.tsVal, f.tsEcr]);
  });
});

describe('TCP wire: malformed input', () => {
  const base = fromHex(SYN_HEX);
  it('rejects short buffers and bad data offsets', () => {
    expect(TcpPacket.check(base.subarray(0, 19))).toBe('truncated');
    const b = base.slice();
    b[12] = 0x40;
    expect(TcpPacket.check(b)).toBe('bad-offset');
    b[12] = 0xf0; // 60 bytes > 40
    expect(TcpPacket.check(b)).toBe('truncated');
  });
  const bad = (opts: number[]): boolean => {
    const b = new Uint8Array(20 + opts.length);
    b.set(base.subarray(0, 20));
    b[12] = ((20 + opts.length) / 4) << 4;
    b.set(opts, 20);
    return parseTcpInto(b, emptyTcpFields());
  };
  it('rejects options with bad lengths', () => {
    expect(bad([2, 3, 5, 1])).toBe(false); // MSS len 3
    expect(bad([3, 4, 7, 0])).toBe(false); // WS len 4
    expect(bad([4, 3, 0, 0])).toBe(false); // SACK-permitted len 3
    expect(bad([5, 6, 0, 0, 0, 0, 1, 1])).toBe(false); // SACK not 2+8n
    expect(bad([8, 8, 0, 0, 0, 0, 0, 0])).toBe(false); // TS len 8
    expect(bad([1, 1, 1, 99])).toBe(false); // kind without a length byte
    expect(bad([30, 1, 0, 0])).toBe(false); // length < 2
    expect(bad([30, 9, 0, 0])).toBe(false); // runs past the header
  });
  it('skips unknown options, stops at EOL, clamps wscale to 14', () => {
    const b = new Uint8Array(32);
    b.set(base.subarray(0, 20));
    b[12] = 8 << 4;
    b.set([30, 4, 0xaa, 0xbb, 3, 3, 20, 0, 2, 4, 0, 1], 20);
    const f = emptyTcpFields();
    expect(parseTcpInto(b, f)).toBe(true);
    expect(f.wscale).toBe(14);
    expect(f.mss).toBeUndefined(); // after EOL: not parsed
  });
  it('never throws on arbitrary bytes: either parses or is rejected', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
        const p = TcpPacket.checked(bytes);
        if (!p) return;
        const r = parseTcp(p);
        if (r) expect(r.payloadLen).toBe(bytes.length - p.headerLen);
      }),
      { numRuns: 2000 },
    );
  });
  it('never throws on mutated valid headers', () => {
    const good = fromHex(SYN_HEX);
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(39), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }), (muts) => {
        const b = good.slice();
        for (const [i, v] of muts) b[i] = v;
        const p = TcpPacket.checked(b);
        if (p) parseTcp(p);
      }),
      { numRuns: 2000 },
    );
  });
});

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const reprArb: fc.Arbitrary<TcpRepr> = fc
  .record({
    srcPort: u16, dstPort: u16, seq: u32, ack: u32, flags: fc.integer({ min: 0, max: 255 }), window: u16, urgent: u16,
    mss: fc.option(u16, { nil: undefined }),
    wscale: fc.option(fc.integer({ min: 0, max: 14 }), { nil: undefined }),
    sackPermitted: fc.boolean(),
    ts: fc.option(fc.tuple(u32, u32), { nil: undefined }),
    sack: fc.array(fc.tuple(u32, u32), { maxLength: 4 }),
    payloadLen: fc.integer({ min: 0, max: 64 }),
  })
  .map((x) => {
    const used = (x.mss !== undefined ? 4 : 0) + (x.ts ? 12 : x.sackPermitted ? 4 : 0) + (x.wscale !== undefined ? 4 : 0);
    const maxBlocks = Math.max(0, Math.min(4, (40 - used - 4) >> 3));
    return {
      srcPort: x.srcPort, dstPort: x.dstPort, seq: x.seq, ack: x.ack, flags: x.flags, window: x.window,
      urgent: x.urgent, mss: x.mss, wscale: x.wscale, sackPermitted: x.sackPermitted,
      sackBlocks: x.sack.slice(0, maxBlocks).flat(), tsVal: x.ts?.[0], tsEcr: x.ts?.[1], payloadLen: x.payloadLen,
    };
  });

describe('TCP wire: round trip', () => {
  it('parse(emit(r)) equals r and the checksum verifies', () => {
    fc.assert(
      fc.property(reprArb, fc.uint8Array({ minLength: 64, maxLength: 64 }), u32, u32, fc.nat(3), (r, payload, src, dst, off) => {
        const buf = new Uint8Array(off + tcpBufferLen(r));
        const hl = emitTcp(r, buf, off);
        expect(hl).toBe(tcpHeaderLen(r));
        buf.set(payload.subarray(0, r.payloadLen), off + hl);
        fillTcpChecksum(buf, off, buf.length, src, dst);
        expect(verifyTcpChecksum(buf, off, buf.length, src, dst)).toBe(true);
        const p = TcpPacket.checked(buf.subarray(off))!;
        expect(parseTcp(p)).toEqual(r);
        if (r.payloadLen > 0) {
          buf[off + hl] ^= 1;
          expect(verifyTcpChecksum(buf, off, buf.length, src, dst)).toBe(false);
        }
      }),
      { numRuns: 1000 },
    );
  });
});
