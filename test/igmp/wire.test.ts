/**
 * The IGMP codec (RFC 1112, 2236, 3376): parse(emit(r)) equals r under fast-check for every message kind, the
 * checksum verifies, RFC 3376 7.1's version rules for queries, the Max Resp Code's floating point, and bytes that
 * are no IGMP message are refused with a reason, never thrown.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { checksum } from '../../protocols/util/checksum.js';
import { emitIgmp, igmpBufferLen, igmpMaxRespDelayMs, parseIgmp, type IgmpRepr } from '../../protocols/igmp/wire.js';

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const sources = fc.array(u32, { maxLength: 6 });
const repr: fc.Arbitrary<IgmpRepr> = fc.oneof(
  fc.record({ kind: fc.constant('query' as const), version: fc.constant(1 as const), maxRespCode: fc.constant(0), group: u32, suppress: fc.constant(false), qrv: fc.constant(0), qqic: fc.constant(0), sources: fc.constant([]) }),
  fc.record({ kind: fc.constant('query' as const), version: fc.constant(2 as const), maxRespCode: fc.integer({ min: 1, max: 255 }), group: u32, suppress: fc.constant(false), qrv: fc.constant(0), qqic: fc.constant(0), sources: fc.constant([]) }),
  fc.record({ kind: fc.constant('query' as const), version: fc.constant(3 as const), maxRespCode: fc.integer({ min: 0, max: 255 }), group: u32, suppress: fc.boolean(), qrv: fc.integer({ min: 0, max: 7 }), qqic: fc.integer({ min: 0, max: 255 }), sources }),
  fc.record({ kind: fc.constantFrom('v1-report' as const, 'v2-report' as const, 'leave' as const), group: u32 }),
  fc.record({
    kind: fc.constant('v3-report' as const),
    records: fc.array(fc.record({ type: fc.integer({ min: 1, max: 6 }), group: u32, sources, auxWords: fc.integer({ min: 0, max: 2 }) }), { maxLength: 5 }),
  }),
);

describe('IGMP codec', () => {
  it('parse(emit(r)) equals r; the checksum verifies; the length is igmpBufferLen', () => {
    fc.assert(
      fc.property(repr, (r) => {
        const b = emitIgmp(r);
        expect(b.length).toBe(igmpBufferLen(r));
        expect(checksum(b)).toBe(0);
        expect(parseIgmp(b)).toEqual(r);
      }),
    );
  });

  it('refuses, never throws: short, bad checksum, 9-11 byte queries, unknown types, records past the end', () => {
    expect(parseIgmp(new Uint8Array(7))).toBe('truncated');
    const leave = emitIgmp({ kind: 'leave', group: 0xef010203 });
    leave[7]! ^= 1;
    expect(parseIgmp(leave)).toBe('bad-checksum');
    const q = emitIgmp({ kind: 'query', version: 3, maxRespCode: 100, group: 0, suppress: false, qrv: 2, qqic: 125, sources: [] });
    const nine = fixSum(q.slice(0, 10));
    expect(parseIgmp(nine)).toBe('bad-length');
    expect(parseIgmp(fixSum(Uint8Array.of(0x13, 0, 0, 0, 0, 0, 0, 0)))).toBe('unknown-type');
    const rep = emitIgmp({ kind: 'v3-report', records: [{ type: 4, group: 0xef010203, sources: [1, 2], auxWords: 0 }] });
    expect(parseIgmp(fixSum(rep.slice(0, rep.length - 4)))).toBe('truncated');
    fc.assert(fc.property(fc.uint8Array({ maxLength: 80 }), (b) => void parseIgmp(b)));
  });

  it('Max Resp Code: tenths of a second, RFC 3376 4.1.1 floating point from 128, 10 s for IGMPv1', () => {
    expect(igmpMaxRespDelayMs(2, 100)).toBe(10_000);
    expect(igmpMaxRespDelayMs(3, 127)).toBe(12_700);
    expect(igmpMaxRespDelayMs(3, 0x80)).toBe(128 * 100); // mant 0, exp 0: 0x10 << 3
    expect(igmpMaxRespDelayMs(3, 0xff)).toBe(31 * 2 ** 10 * 100);
    expect(igmpMaxRespDelayMs(1, 0)).toBe(10_000);
  });
});

function fixSum(b: Uint8Array): Uint8Array {
  b[2] = 0;
  b[3] = 0;
  const c = checksum(b);
  b[2] = c >>> 8;
  b[3] = c & 0xff;
  return b;
}
