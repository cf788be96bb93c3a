/**
 * Software GRO (src/stack/gro.ts): the merge rules on hand-built segments, an order-and-bytes property under
 * fast-check, and whole-stack transfers on the virtual clock (clean, and with loss, reordering and duplication).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { TcpGro } from '../../src/stack/gro.js';
import { checksum, pseudoHeaderSum } from '../../protocols/util/checksum.js';
import { faults } from '../../drivers/middleware/faults.js';
import type { FrameDriver } from '../../drivers/types.js';
import { makePair, pattern, transfer } from './harness.js';

const SRC = 0x0a000001;
const DST = 0x0a000002;
const OTHER = 0x0a000003;
const TOS_TTL = 64;
const FIN = 0x01;
const SYN = 0x02;
const RST = 0x04;
const PSH = 0x08;
const ACK = 0x10;
const URG = 0x20;
const ECE = 0x40;
const CWR = 0x80;
const MSS = 1448;

interface Seg {
  seq: number;
  len?: number;
  flags?: number;
  ack?: number;
  window?: number;
  tsval?: number;
  tsecr?: number;
  /** No options at all (else the usual NOP, NOP, timestamps). */
  bare?: boolean;
  sport?: number;
  src?: number;
  badChecksum?: boolean;
  /** Payload fill seed. */
  fill?: number;
}

/** A TCP segment with a valid checksum (unless asked otherwise); payload bytes derive from seq. */
function seg(s: Seg): Uint8Array {
  const len = s.len ?? MSS;
  const hl = s.bare ? 20 : 32;
  const b = new Uint8Array(hl + len);
  const dv = new DataView(b.buffer);
  dv.setUint16(0, s.sport ?? 40000);
  dv.setUint16(2, 80);
  dv.setUint32(4, s.seq >>> 0);
  dv.setUint32(8, s.ack ?? 5000);
  b[12] = (hl / 4) << 4;
  b[13] = s.flags ?? ACK;
  dv.setUint16(14, s.window ?? 1024);
  if (!s.bare) {
    b.set([1, 1, 8, 10], 20);
    dv.setUint32(24, s.tsval ?? 100);
    dv.setUint32(28, s.tsecr ?? 200);
  }
  for (let i = 0; i < len; i++) b[hl + i] = ((s.seq + i) * 7 + (s.fill ?? 0)) & 0xff;
  const c = checksum(b, 0, b.length, pseudoHeaderSum(s.src ?? SRC, DST, 6, b.length));
  dv.setUint16(16, s.badChecksum ? c ^ 0x0101 : c);
  return b;
}

interface Out {
  seq: number;
  flags: number;
  hl: number;
  data: Uint8Array;
  trusted: boolean;
  tsval: number;
  sport: number;
  segSize: number;
}

function harness() {
  const out: Out[] = [];
  const gro = new TcpGro((_src, _dst, buf, start, end, trusted, segSize) => {
    const segment = buf.subarray(start, end);
    const hl = (segment[12]! >>> 4) * 4;
    const dv = new DataView(segment.buffer, segment.byteOffset, segment.length);
    out.push({ seq: dv.getUint32(4), flags: segment[13]!, hl, data: segment.slice(hl), trusted, tsval: hl >= 32 ? dv.getUint32(24) : -1, sport: dv.getUint16(0), segSize });
  }, true);
  const feed = (...segs: Seg[]): void => {
    for (const s of segs) gro.input(s.src ?? SRC, DST, TOS_TTL, seg(s), false);
  };
  return { gro, out, feed };
}

const run = (start: number, n: number, extra: Partial<Seg> = {}): Seg[] => Array.from({ length: n }, (_, i) => ({ seq: (start + i * MSS) >>> 0, ...extra }));

function bytesOf(segs: Seg[]): Uint8Array {
  const parts = segs.map((s) => seg(s).subarray(s.bare ? 20 : 32));
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    all.set(p, o);
    o += p.length;
  }
  return all;
}

describe('TcpGro: merge rules', () => {
  it('merges a batch of in-order full segments into one, verified, with the first header', () => {
    const { gro, out, feed } = harness();
    const segs = run(1000, 10);
    feed(...segs);
    expect(out).toHaveLength(0); // held until the batch ends
    gro.flush();
    expect(out).toHaveLength(1);
    expect(out[0]!.seq).toBe(1000);
    expect(out[0]!.flags).toBe(ACK);
    expect(out[0]!.trusted).toBe(true);
    expect(out[0]!.data).toEqual(bytesOf(segs));
    expect(gro.stats).toMatchObject({ segments: 10, merged: 9, flushed: 1, passed: 0 });
    expect(gro.held).toBe(0);
  });

  it('tells the segment size of a merged run (gso_size), and 0 for a segment delivered alone', () => {
    const { gro, out, feed } = harness();
    feed(...run(0, 3), { seq: 3 * MSS, len: 100 });
    gro.flush();
    feed({ seq: 3 * MSS + 100, len: 50 });
    gro.flush();
    expect(out.map((o) => [o.data.length, o.segSize])).toEqual([
      [3 * MSS + 100, MSS],
      [50, 0],
    ]);
  });

  it('PSH ends a run after joining it; a short segment ends it too', () => {
    const { gro, out, feed } = harness();
    feed(...run(0, 3), { seq: 3 * MSS, flags: ACK | PSH }, ...run(4 * MSS, 2), { seq: 6 * MSS, len: 100 }, { seq: 6 * MSS + 100 });
    gro.flush();
    expect(out.map((o) => [o.seq, o.data.length, o.flags])).toEqual([
      [0, 4 * MSS, ACK | PSH],
      [4 * MSS, 2 * MSS + 100, ACK],
      [6 * MSS + 100, MSS, ACK],
    ]);
  });

  it('a gap (loss) or a segment from before (reordering, retransmission) flushes, keeping the order of arrival', () => {
    const { gro, out, feed } = harness();
    feed(...run(0, 2), { seq: 3 * MSS }, { seq: 2 * MSS }, { seq: 4 * MSS });
    gro.flush();
    expect(out.map((o) => [o.seq, o.data.length])).toEqual([
      [0, 2 * MSS],
      [3 * MSS, MSS],
      [2 * MSS, MSS],
      [4 * MSS, MSS],
    ]);
    expect(gro.stats.flushOutOfOrder).toBe(3);
  });

  it('sequence numbers that cross 2^31 and 2^32 merge like any others', () => {
    for (const start of [0x7fff_fa00, 0xffff_fa00]) {
      const { gro, out, feed } = harness();
      const segs = run(start, 8);
      feed(...segs);
      gro.flush();
      expect(out).toHaveLength(1);
      expect(out[0]!.seq).toBe(start);
      expect(out[0]!.data).toEqual(bytesOf(segs));
    }
  });

  for (const [name, flag] of [['FIN', FIN | ACK], ['SYN', SYN | ACK], ['RST', RST | ACK], ['URG', URG | ACK], ['ECE', ECE | ACK], ['CWR', CWR | ACK], ['no ACK', 0]] as const) {
    it(`a ${name} segment is never merged: the held run goes first, then it, as it came (unverified)`, () => {
      const { gro, out, feed } = harness();
      feed(...run(0, 2), { seq: 2 * MSS, flags: flag }, { seq: 3 * MSS });
      gro.flush();
      expect(out.map((o) => [o.seq, o.flags, o.trusted])).toEqual([
        [0, ACK, true],
        [2 * MSS, flag, false],
        [3 * MSS, ACK, true],
      ]);
      expect(gro.stats.flushMismatch).toBe(1);
      expect(gro.stats.passed).toBe(1);
    });
  }

  it('pure ACKs pass through; they flush a held run of their own flow only', () => {
    const { gro, out, feed } = harness();
    feed(...run(0, 2), { seq: 2 * MSS, len: 0, src: OTHER }, { seq: 2 * MSS });
    expect(out.map((o) => o.data.length)).toEqual([0]); // another flow's ACK: the run stays held
    feed({ seq: 3 * MSS, len: 0 });
    gro.flush();
    expect(out.map((o) => [o.seq, o.data.length])).toEqual([
      [2 * MSS, 0],
      [0, 3 * MSS],
      [3 * MSS, 0],
    ]);
  });

  it('a different ACK number, window, option or TOS/TTL starts a new run', () => {
    const cases: Partial<Seg>[] = [{ ack: 5001 }, { window: 1025 }, { tsecr: 201 }, { bare: true }];
    for (const c of cases) {
      const { gro, out, feed } = harness();
      feed(...run(0, 2), { seq: 2 * MSS, ...c }, { seq: 3 * MSS, ...c });
      gro.flush();
      expect(out.map((o) => [o.seq, o.data.length])).toEqual([
        [0, 2 * MSS],
        [2 * MSS, 2 * MSS],
      ]);
      expect(gro.stats.flushMismatch).toBe(1);
    }
    const { gro, out } = harness();
    gro.input(SRC, DST, TOS_TTL, seg({ seq: 0 }), false);
    gro.input(SRC, DST, TOS_TTL | 0x0300, seg({ seq: MSS }), false); // ECN CE
    gro.flush();
    expect(out).toHaveLength(2);
  });

  it('TSval may grow within a run (the first is kept); going back starts a new run', () => {
    const { gro, out, feed } = harness();
    feed({ seq: 0, tsval: 100 }, { seq: MSS, tsval: 101 }, { seq: 2 * MSS, tsval: 101 }, { seq: 3 * MSS, tsval: 99 });
    gro.flush();
    expect(out.map((o) => [o.seq, o.data.length, o.tsval])).toEqual([
      [0, 3 * MSS, 100],
      [3 * MSS, MSS, 99],
    ]);
  });

  it('another flow flushes the held one (one flow is held at a time)', () => {
    const { gro, out, feed } = harness();
    feed(...run(0, 2), { seq: 0, sport: 40001 }, { seq: MSS, sport: 40001 }, { seq: 2 * MSS });
    gro.flush();
    expect(out.map((o) => [o.seq, o.data.length])).toEqual([
      [0, 2 * MSS],
      [0, 2 * MSS],
      [2 * MSS, MSS],
    ]);
    expect(gro.stats.flushOtherFlow).toBe(2);
  });

  it('a longer segment than the run\'s first starts a new run; a run stops below 64 KiB', () => {
    const { gro, out, feed } = harness();
    feed({ seq: 0, len: 1000 }, { seq: 1000, len: 1000 }, { seq: 2000, len: MSS });
    gro.flush();
    expect(out.map((o) => o.data.length)).toEqual([2000, MSS]);
    const h = harness();
    h.feed(...run(0, 50));
    h.gro.flush();
    const sizes = h.out.map((o) => o.hl + o.data.length);
    expect(sizes.every((n) => n <= 65535 - 20)).toBe(true);
    expect(h.out.map((o) => o.data.length).reduce((a, b) => a + b)).toBe(50 * MSS);
    expect(h.out).toHaveLength(2);
  });

  it('a segment too large for another of its size to follow in 64 KiB goes on at once, uncopied and unheld', () => {
    const { gro, out, feed } = harness();
    feed({ seq: 0, len: 40000 });
    expect(gro.held).toBe(0);
    expect(out).toHaveLength(1);
    expect(gro.stats.passed).toBe(1);
    expect(out[0]!.data.length).toBe(40000);
    expect(out[0]!.trusted).toBe(true); // verified here before it went on
    feed({ seq: 40000, len: 20000 }); // half the limit: one more could follow, so it is held
    expect(gro.held).toBe(32 + 20000);
  });

  it('a bad checksum is never merged: passed on unverified for TCP to count, after the held run', () => {
    const { gro, out, feed } = harness();
    feed(...run(0, 2), { seq: 2 * MSS, badChecksum: true }, { seq: 3 * MSS });
    gro.flush();
    expect(out.map((o) => [o.seq, o.trusted])).toEqual([
      [0, true],
      [2 * MSS, false],
      [3 * MSS, true],
    ]);
    expect(gro.stats.badChecksum).toBe(1);
  });

  it('segments the device vouched for are not summed again (a wrong sum then merges)', () => {
    const { gro, out } = harness();
    gro.input(SRC, DST, TOS_TTL, seg({ seq: 0 }), true);
    gro.input(SRC, DST, TOS_TTL, seg({ seq: MSS, badChecksum: true }), true);
    gro.flush();
    expect(out).toHaveLength(1);
    expect(gro.stats.badChecksum).toBe(0);
  });

  it('malformed headers pass through untouched', () => {
    const { gro, out } = harness();
    gro.input(SRC, DST, TOS_TTL, new Uint8Array(10), false);
    const s = seg({ seq: 0 });
    s[12] = 0x30; // data offset 12 bytes
    gro.input(SRC, DST, TOS_TTL, s, false);
    gro.flush();
    expect(out).toHaveLength(2);
    expect(gro.stats.passed).toBe(2);
  });

  it('property: whatever arrives, each flow\'s delivered segments carry the same bytes in the same order', () => {
    const arbSeg = fc.record({
      seqStep: fc.constantFrom(0, 0, 0, 0, 1, -1, 2), // mostly in order; sometimes a gap or a step back
      len: fc.constantFrom(MSS, MSS, MSS, 0, 500),
      flags: fc.constantFrom(ACK, ACK, ACK, ACK | PSH, ACK | FIN, ACK | RST),
      ack: fc.constantFrom(5000, 5000, 5001),
      tsval: fc.constantFrom(100, 100, 101, 99),
      sport: fc.constantFrom(40000, 40000, 40000, 40001),
      bad: fc.constantFrom(false, false, false, false, false, false, false, false, false, true),
      flush: fc.constantFrom(false, false, false, false, true),
    });
    fc.assert(
      fc.property(fc.array(arbSeg, { maxLength: 80 }), fc.constantFrom(0, 0x7fff_f000, 0xffff_e000), (list, start) => {
        const { gro, out } = harness();
        const inputs: { sport: number; data: Uint8Array }[] = [];
        let seq = start;
        for (const x of list) {
          seq = (seq + x.seqStep * MSS) >>> 0;
          const s = seg({ seq, len: x.len, flags: x.flags, ack: x.ack, tsval: x.tsval, sport: x.sport, badChecksum: x.bad });
          inputs.push({ sport: x.sport, data: s.subarray(32).slice() });
          gro.input(SRC, DST, TOS_TTL, s, false);
          seq = (seq + x.len) >>> 0;
          if (x.flush) gro.flush();
        }
        gro.flush();
        const join = (parts: Uint8Array[]) => Buffer.concat(parts.map((p) => Buffer.from(p)));
        // Flows may pass each other (a held run waits while another flow's segment goes on); within one, nothing does.
        for (const sport of [40000, 40001]) {
          const want = join(inputs.filter((x) => x.sport === sport).map((x) => x.data));
          expect(join(out.filter((o) => o.sport === sport).map((o) => o.data)).equals(want)).toBe(true);
        }
        expect(gro.stats.segments).toBe(list.length);
        expect(gro.stats.merged + gro.stats.flushed + gro.stats.passed).toBe(list.length);
        expect(out).toHaveLength(gro.stats.flushed + gro.stats.passed);
      }),
      { numRuns: 300, seed: 12 },
    );
  });
});

describe('GRO in the stack (memory link, virtual clock)', () => {
  it('a bulk transfer is merged before TCP: fewer TCP segments in, the same bytes', () => {
    const size = 2_000_000;
    const tcp = { sendBuffer: 1 << 20, receiveBuffer: 1 << 20, maxReceiveBuffer: 1 << 20 };
    const on = makePair({ configA: { tcp }, configB: { tcp } });
    const a = transfer(on, size);
    expect(Buffer.from(a.got).equals(pattern(size))).toBe(true); // (toEqual on 2 MB takes many seconds)
    const off = makePair({ configA: { tcp, gro: false }, configB: { tcp, gro: false } });
    const b = transfer(off, size);
    expect(Buffer.from(b.got).equals(pattern(size))).toBe(true);
    const gro = on.b.stats.gro!;
    expect(off.b.stats.gro).toBeUndefined();
    expect(gro.merged).toBeGreaterThan(size / 1448 / 2);
    expect(on.b.stats.tcp!.segsIn).toBeLessThan(off.b.stats.tcp!.segsIn / 2);
    expect(on.b.stats.tcp!.badChecksum).toBe(0);
  });

  it('with loss, reordering and duplication both ways the data still arrives whole, and GRO saw the disorder', () => {
    const impair = (seed: number) => (d: FrameDriver) => faults(d, { seed, tx: { loss: 0.03, reorder: 0.1, duplicate: 0.02 } });
    const p = makePair({ wrapA: impair(3), wrapB: impair(4) });
    const { got, client } = transfer(p, 500_000);
    expect(Buffer.from(got).equals(pattern(500_000))).toBe(true);
    expect(client.info().retransmits).toBeGreaterThan(0);
    const gro = p.b.stats.gro!;
    expect(gro.merged).toBeGreaterThan(0);
    expect(gro.flushOutOfOrder).toBeGreaterThan(0);
  });
});
