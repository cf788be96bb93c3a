/**
 * Sequence-number arithmetic (protocols/tcp/seq.ts): the core holds sequence numbers as signed 32-bit integers,
 * so every value stays a small integer to V8; arithmetic and comparison must agree with the wire's unsigned
 * numbers across 2^31 (where the signed form turns negative) and 2^32 (where the unsigned one wraps).
 */
import { describe, expect, it } from 'vitest';
import { seqAdd, seqDiff, seqFrom, seqGe, seqGt, seqLe, seqLt, seqU32 } from '../../protocols/tcp/seq.js';
import { emitTcp, emptyTcpFields, parseTcp, parseTcpInto, TcpPacket } from '../../protocols/tcp/wire.js';

describe('sequence numbers held signed', () => {
  it('seqFrom and seqU32 map the wire value to the core form and back, for every 32-bit value', () => {
    for (const u of [0, 1, 0x7fff_ffff, 0x8000_0000, 0x8000_0001, 0xffff_fffe, 0xffff_ffff]) {
      const s = seqFrom(u);
      expect(s).toBe(s | 0); // a signed 32-bit integer
      expect(seqU32(s)).toBe(u);
    }
  });

  it('seqAdd stays signed and agrees with unsigned addition modulo 2^32 across 2^31 and 2^32', () => {
    for (const u of [0x7fff_fff0, 0xffff_fff0]) {
      for (const n of [1, 15, 16, 17, 1 << 20, -1, -(1 << 20)]) {
        const r = seqAdd(seqFrom(u), n);
        expect(r).toBe(r | 0);
        expect(seqU32(r)).toBe((((u + n) % 2 ** 32) + 2 ** 32) % 2 ** 32);
        expect(seqDiff(r, seqFrom(u))).toBe(n);
        expect(n > 0 ? seqGt(r, seqFrom(u)) && seqLt(seqFrom(u), r) : seqLt(r, seqFrom(u)) && seqGe(seqFrom(u), r)).toBe(true);
      }
    }
    expect(seqLe(seqFrom(0x7fff_ffff), seqFrom(0x8000_0000))).toBe(true);
    expect(seqGt(seqFrom(0), seqFrom(0xffff_ffff))).toBe(true);
  });

  it('parseTcpInto gives the core form (sequence numbers and timestamps), parseTcp the wire value, and emitTcp writes either', () => {
    const buf = new Uint8Array(60);
    for (const [seq, ack] of [
      [0x8000_0000, 0xffff_ffff],
      [0x7fff_ffff, 0],
    ]) {
      const f = { ...emptyTcpFields(), srcPort: 1, dstPort: 2, seq: seq!, ack: ack!, flags: 0x10, window: 100, sackBlocks: [0x8000_0010, 0xffff_fff0], tsVal: 0x9000_0000, tsEcr: 0xffff_fff0 };
      const n = emitTcp(f, buf);
      const into = emptyTcpFields();
      expect(parseTcpInto(buf.subarray(0, n), into)).toBe(true);
      expect([into.seq, into.ack, ...into.sackBlocks]).toEqual([seqFrom(seq!), seqFrom(ack!), seqFrom(0x8000_0010), seqFrom(0xffff_fff0)]);
      expect([into.tsVal, into.tsEcr]).toEqual([seqFrom(0x9000_0000), seqFrom(0xffff_fff0)]);
      const r = parseTcp(TcpPacket.checked(buf.subarray(0, n))!)!;
      expect([r.seq, r.ack, ...r.sackBlocks]).toEqual([seq, ack, 0x8000_0010, 0xffff_fff0]);
      expect([r.tsVal, r.tsEcr]).toEqual([0x9000_0000, 0xffff_fff0]);
      // Emitting the signed form gives the same bytes.
      const again = new Uint8Array(60);
      emitTcp({ ...into }, again);
      expect(again.subarray(0, n)).toEqual(buf.subarray(0, n));
    }
  });
});
