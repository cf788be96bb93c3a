/**
 * AF_PACKET fanout in 'cbpf' mode with byway's steering program (drivers/af-packet/fanout.ts): the program, run by
 * an interpreter, agrees with flowWorker (the rule byway computes) for any IPv4 or IPv6 packet; on a real veth, every
 * datagram the kernel sends reaches the member flowWorker predicts, and a program replaced at run time moves them.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildFanoutProgram,
  flowClass,
  flowWorker,
  openAfPacket,
  runFanoutProgram,
  workerEphemeralRange,
  type AfPacketDriver,
} from '../../drivers/af-packet/index.js';
import { IPV6_EXT_WALK } from '../../drivers/af-packet/fanout.js';
import { NetLab, describePrivileged, execInAsync, ipIn } from '../helpers/netns.js';
import { get16, waitFrame } from './frames.js';

function ipv4(o: { ihl: number; frag: number; proto: number; src: number; sport: number; dport: number; len: number }): Uint8Array {
  const b = new Uint8Array(Math.max(o.len, 1));
  b[0] = 0x40 | o.ihl;
  b[6] = o.frag >> 8;
  b[7] = o.frag & 0xff;
  b[9] = o.proto;
  for (let i = 0; i < 4; i++) b[12 + i] = (o.src >>> (24 - 8 * i)) & 0xff;
  const l4 = o.ihl * 4;
  if (l4 + 4 <= b.length) {
    b[l4] = o.sport >> 8;
    b[l4 + 1] = o.sport & 0xff;
    b[l4 + 2] = o.dport >> 8;
    b[l4 + 3] = o.dport & 0xff;
  }
  return b;
}

const packet = fc.record({
  ihl: fc.integer({ min: 5, max: 15 }),
  frag: fc.oneof(fc.constant(0), fc.constant(0x4000), fc.integer({ min: 0, max: 0xffff })),
  proto: fc.oneof(fc.constant(6), fc.constant(17), fc.integer({ min: 0, max: 255 })),
  src: fc.integer({ min: 0, max: 0xffffffff }),
  sport: fc.integer({ min: 0, max: 0xffff }),
  dport: fc.oneof(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 49152, max: 65535 })),
  len: fc.oneof(fc.integer({ min: 0, max: 80 }), fc.constant(64)),
});

/** An IPv4 ICMP message: an echo reply (identifier `ident`) or an error quoting a packet byway sent. */
function icmpv4(o: { ihl: number; type: number; ident: number; src: number; qihl: number; qproto: number; qsport: number; qdport: number; qdst: number; len: number }): Uint8Array {
  const b = new Uint8Array(o.len);
  const set = (at: number, v: number, n: number): void => {
    for (let i = 0; i < n; i++) if (at + i < b.length) b[at + i] = (v >>> (8 * (n - 1 - i))) & 0xff;
  };
  set(0, 0x40 | o.ihl, 1);
  set(9, 1, 1);
  set(12, o.src, 4);
  const l4 = o.ihl * 4;
  set(l4, o.type, 1);
  set(l4 + 4, o.ident, 2);
  const q = l4 + 8;
  set(q, 0x40 | o.qihl, 1);
  set(q + 9, o.qproto, 1);
  set(q + 16, o.qdst, 4);
  const ql4 = q + o.qihl * 4;
  set(ql4, o.qsport, 2);
  set(ql4 + 2, o.qdport, 2);
  set(ql4 + 4, o.ident, 2); // a quoted echo request's identifier
  return b;
}

const icmpPacket = fc.record({
  ihl: fc.oneof(fc.constant(5), fc.integer({ min: 5, max: 15 })),
  type: fc.oneof(fc.constantFrom(0, 3, 4, 11, 12, 8), fc.integer({ min: 0, max: 255 })),
  ident: fc.oneof(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 49152, max: 65535 })),
  src: fc.integer({ min: 0, max: 0xffffffff }),
  qihl: fc.oneof(fc.constant(5), fc.integer({ min: 0, max: 15 })),
  qproto: fc.oneof(fc.constantFrom(6, 17, 1), fc.integer({ min: 0, max: 255 })),
  qsport: fc.oneof(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 49152, max: 65535 })),
  qdport: fc.integer({ min: 0, max: 0xffff }),
  qdst: fc.integer({ min: 0, max: 0xffffffff }),
  len: fc.oneof(fc.integer({ min: 0, max: 120 }), fc.constant(56), fc.constant(576)),
});

/** An IPv6 packet (from its fixed header on): TCP/UDP ports or an ICMPv6 type and identifier right behind it. */
function ipv6(o: { next: number; src: readonly number[]; sport: number; dport: number; type: number; ident: number; len: number }): Uint8Array {
  const b = new Uint8Array(o.len);
  const set = (at: number, v: number, n: number): void => {
    for (let i = 0; i < n; i++) if (at + i < b.length) b[at + i] = (v >>> (8 * (n - 1 - i))) & 0xff;
  };
  set(0, 0x60, 1);
  set(6, o.next, 1);
  o.src.forEach((w, i) => set(8 + 4 * i, w, 4));
  if (o.next === 58) {
    set(40, o.type, 1);
    set(44, o.ident, 2);
  } else {
    set(40, o.sport, 2);
    set(42, o.dport, 2);
  }
  return b;
}

const ipv6Packet = fc.record({
  next: fc.oneof(fc.constantFrom(6, 17, 58, 0, 44), fc.integer({ min: 0, max: 255 })),
  src: fc.array(fc.integer({ min: 0, max: 0xffffffff }), { minLength: 4, maxLength: 4 }),
  sport: fc.integer({ min: 0, max: 0xffff }),
  dport: fc.oneof(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 49152, max: 65535 })),
  type: fc.oneof(fc.constantFrom(129, 128, 135, 136, 1, 2), fc.integer({ min: 0, max: 255 })),
  ident: fc.oneof(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 49152, max: 65535 })),
  len: fc.oneof(fc.integer({ min: 0, max: 80 }), fc.constant(60)),
});

/**
 * An IPv6 packet whose fixed header is followed by `chain` (extension headers: [type, Hdr Ext Len]; a fragment
 * header, 44, is 8 bytes whatever its second byte, and its offset field is `fragOffset`), then `upper` with its
 * ports (TCP/UDP) or type and identifier (ICMPv6) as `ipv6` writes them; `cut` bytes taken off the end.
 */
function ipv6Ext(o: { chain: ReadonlyArray<readonly [number, number]>; upper: number; src: readonly number[]; sport: number; dport: number; type: number; ident: number; fragOffset: number; cut: number }): Uint8Array {
  const exts = o.chain.map(([t, n]) => (t === 44 ? 8 : (n + 1) * 8));
  const l4 = 40 + exts.reduce((a, b) => a + b, 0);
  const plain = ipv6({ next: o.upper, src: o.src, sport: o.sport, dport: o.dport, type: o.type, ident: o.ident, len: 48 });
  const b = new Uint8Array(l4 + 8);
  b.set(plain.subarray(0, 40), 0);
  b.set(plain.subarray(40, 48), l4);
  b[6] = o.chain.length > 0 ? o.chain[0]![0] : o.upper;
  let x = 40;
  o.chain.forEach(([t, n], i) => {
    b[x] = i + 1 < o.chain.length ? o.chain[i + 1]![0] : o.upper;
    if (t === 44) {
      b[x + 2] = o.fragOffset >> 8;
      b[x + 3] = o.fragOffset & 0xff;
    } else b[x + 1] = n;
    x += exts[i]!;
  });
  return b.subarray(0, Math.max(0, b.length - o.cut));
}

const ipv6ExtPacket = fc.record({
  chain: fc.array(fc.tuple(fc.oneof(fc.constantFrom(0, 43, 60, 44), fc.integer({ min: 0, max: 255 })), fc.integer({ min: 0, max: 3 })), { maxLength: 7 }),
  upper: fc.oneof(fc.constantFrom(6, 17, 58), fc.integer({ min: 0, max: 255 })),
  src: fc.array(fc.integer({ min: 0, max: 0xffffffff }), { minLength: 4, maxLength: 4 }),
  sport: fc.integer({ min: 0, max: 0xffff }),
  dport: fc.oneof(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 49152, max: 65535 })),
  type: fc.constantFrom(129, 128, 135, 1),
  ident: fc.oneof(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 49152, max: 65535 })),
  fragOffset: fc.oneof(fc.constantFrom(0, 1, 8 * 185, 8 * 185 + 1), fc.integer({ min: 0, max: 0xffff })),
  cut: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 12 })),
});

/** Two permuted slot tables, `slots` and `serviceSlots`, for `workers` workers from `seed`. */
function permutedTables(workers: number, seed: number): { workers: number; slots: number[]; serviceSlots: number[] } {
  return {
    workers,
    slots: Array.from({ length: workers }, (_, i) => (i + seed) % workers),
    serviceSlots: Array.from({ length: workers }, (_, i) => (i * 3 + seed + 1) % workers),
  };
}

/** What the program returns (before the kernel's modulo): the worker's member in its class's table; 0 when a load runs past the end. */
function expectedMember(spec: { workers: number; slots: readonly number[]; serviceSlots?: readonly number[] }, etherType: number, bytes: Uint8Array): number {
  const c = flowClass(spec, etherType, bytes);
  if (c === undefined) return 0;
  return (c.table === 'slots' ? spec.slots : spec.serviceSlots ?? spec.slots)[c.worker]!;
}

describe('fanout steering program (interpreted)', () => {
  it('computes flowWorker for every IPv4 packet, through the slot table, for 1 to 7 workers', () => {
    fc.assert(
      fc.property(packet, fc.integer({ min: 1, max: 7 }), fc.boolean(), (p, workers, permuted) => {
        const slots = Array.from({ length: workers }, (_, i) => (permuted ? workers - 1 - i : i));
        const spec = { workers, slots };
        const prog = buildFanoutProgram(spec);
        const bytes = ipv4(p);
        const got = runFanoutProgram(prog, 0x0800, bytes) % workers;
        // A packet too short to read ends the kernel's program with 0 (member 0), whatever the slots say.
        expect(got).toBe(expectedMember(spec, 0x0800, bytes));
        if (flowClass(spec, 0x0800, bytes) !== undefined) expect(got).toBe(slots[flowWorker(spec, 0x0800, bytes)]);
      }),
      { numRuns: 3000 },
    );
  });

  it('with serviceSlots: the hashed classes go through serviceSlots, ephemeral slices and ARP through slots', () => {
    fc.assert(
      fc.property(packet, fc.integer({ min: 1, max: 7 }), fc.integer({ min: 0, max: 6 }), (p, workers, seed) => {
        const spec = permutedTables(workers, seed);
        const prog = buildFanoutProgram(spec);
        const bytes = ipv4(p);
        const c = flowClass(spec, 0x0800, bytes);
        const ports = (p.proto === 6 || p.proto === 17) && (p.frag & 0x3fff) === 0;
        const { low } = workerEphemeralRange(spec, 0);
        // The class: an ephemeral destination port goes by slots, any other IPv4 by serviceSlots.
        if (c !== undefined && p.proto !== 1) expect(c.table).toBe(ports && ((bytes[p.ihl * 4 + 2]! << 8) | bytes[p.ihl * 4 + 3]!) >= low ? 'slots' : 'service');
        expect(runFanoutProgram(prog, 0x0800, bytes) % workers).toBe(expectedMember(spec, 0x0800, bytes));
        expect(runFanoutProgram(prog, 0x0806, new Uint8Array(28))).toBe(spec.slots[0]);
      }),
      { numRuns: 3000 },
    );
  });

  it('ICMP: the program computes flowClass for echo replies, errors quoting TCP/UDP/echo, and anything else', () => {
    fc.assert(
      fc.property(icmpPacket, fc.integer({ min: 1, max: 7 }), fc.integer({ min: 0, max: 6 }), (p, workers, seed) => {
        const spec = permutedTables(workers, seed);
        const bytes = icmpv4(p);
        expect(runFanoutProgram(buildFanoutProgram(spec), 0x0800, bytes) % workers).toBe(expectedMember(spec, 0x0800, bytes));
      }),
      { numRuns: 5000 },
    );
  });

  it('IPv6: the program computes flowClass (TCP/UDP by slice or service table, echo replies by identifier, the rest worker 0)', () => {
    fc.assert(
      fc.property(ipv6Packet, fc.integer({ min: 1, max: 7 }), fc.integer({ min: 0, max: 6 }), (p, workers, seed) => {
        const spec = permutedTables(workers, seed);
        const bytes = ipv6(p);
        const c = flowClass(spec, 0x86dd, bytes);
        // (Extension headers, 0, 43, 60 and 44, are walked: the property below.)
        if (c !== undefined && ![6, 17, 0, 43, 60, 44].includes(p.next) && !(p.next === 58 && p.type === 129)) expect(c).toEqual({ worker: 0, table: 'slots' });
        if (c !== undefined && (p.next === 6 || p.next === 17)) expect(c.table).toBe(p.dport >= 49152 ? 'slots' : 'service');
        expect(runFanoutProgram(buildFanoutProgram(spec), 0x86dd, bytes) % workers).toBe(expectedMember(spec, 0x86dd, bytes));
      }),
      { numRuns: 5000 },
    );
  });

  it(`IPv6 extension headers: the program computes flowClass for any chain; up to ${IPV6_EXT_WALK} before TCP/UDP/ICMPv6 steer like none, a fragment by the source address`, () => {
    fc.assert(
      fc.property(ipv6ExtPacket, fc.integer({ min: 1, max: 7 }), fc.integer({ min: 0, max: 6 }), (p, workers, seed) => {
        const spec = permutedTables(workers, seed);
        const bytes = ipv6Ext(p);
        expect(runFanoutProgram(buildFanoutProgram(spec), 0x86dd, bytes) % workers).toBe(expectedMember(spec, 0x86dd, bytes));
        const c = flowClass(spec, 0x86dd, bytes);
        const walked = p.chain.findIndex(([t]) => t !== 0 && t !== 43 && t !== 60);
        const stop = walked < 0 ? p.chain.length : walked;
        if (p.cut > 0 || c === undefined || stop > IPV6_EXT_WALK) return;
        if (stop < p.chain.length && p.chain[stop]![0] === 44) {
          // Every fragment, the first too: the hash of the source address alone (the fragments meet in one worker).
          const plain = flowClass(spec, 0x86dd, ipv6({ next: 6, src: p.src, sport: 0, dport: 1, type: 0, ident: 0, len: 60 }));
          expect(c).toEqual(plain);
        } else if (stop === p.chain.length) {
          // As the same packet without its extension headers (unless `upper` is itself one the walk takes: then the
          // two packets' chains differ in length, and the bound or the end is met in one and not the other).
          if ([0, 43, 60, 44].includes(p.upper)) return;
          expect(c).toEqual(flowClass(spec, 0x86dd, ipv6({ next: p.upper, src: p.src, sport: p.sport, dport: p.dport, type: p.type, ident: p.ident, len: 60 })));
        } else if (![6, 17, 58].includes(p.chain[stop]![0])) expect(c).toEqual({ worker: 0, table: 'slots' });
      }),
      { numRuns: 5000 },
    );
  });

  it('IPv6 extension headers: an upper header that is itself one the walk takes (fast-check seed 458496717)', () => {
    const spec = permutedTables(1, 0);
    const p = { chain: [[0, 0], [0, 0], [0, 0]] as Array<[number, number]>, upper: 0, src: [0, 0, 0, 0], sport: 0, dport: 0, type: 129, ident: 49152, fragOffset: 0, cut: 0 };
    const bytes = ipv6Ext(p);
    // Three hop-by-hop headers, a fourth where the upper layer would be, and the walk's bound met: worker 0's slot.
    expect(flowClass(spec, 0x86dd, bytes)).toEqual({ worker: 0, table: 'slots' });
    expect(runFanoutProgram(buildFanoutProgram(spec), 0x86dd, bytes)).toBe(expectedMember(spec, 0x86dd, bytes));
  });

  it('IPv6 extension headers: hop-by-hop, routing and destination options before TCP to a service port or an ephemeral slice; fragments; a chain past the bound', () => {
    const spec = { workers: 4 };
    const prog = buildFanoutProgram(spec);
    const src = [0xfd000000, 0, 0, 7];
    const base = { src, sport: 40001, type: 0, ident: 0, fragOffset: 0, cut: 0, upper: 6 };
    for (const dport of [443, workerEphemeralRange(spec, 2).low, workerEphemeralRange(spec, 3).high]) {
      const plain = runFanoutProgram(prog, 0x86dd, ipv6({ next: 6, src, sport: 40001, dport, type: 0, ident: 0, len: 60 }));
      for (const chain of [[[0, 0]], [[0, 1], [43, 2]], [[0, 0], [60, 1], [43, 0], [60, 3]]] as Array<Array<[number, number]>>) {
        expect(runFanoutProgram(prog, 0x86dd, ipv6Ext({ ...base, chain, dport }))).toBe(plain);
      }
      // One header more than the walk takes: worker 0's slot.
      expect(runFanoutProgram(buildFanoutProgram({ workers: 4, slots: [3, 2, 1, 0] }), 0x86dd, ipv6Ext({ ...base, chain: Array.from({ length: IPV6_EXT_WALK + 1 }, () => [60, 0] as [number, number]), dport }))).toBe(3);
    }
    // Fragments: the first (offset 0, its ports behind the header) and a later one go to the same worker.
    const first = ipv6Ext({ ...base, chain: [[44, 0]], dport: workerEphemeralRange(spec, 2).low, fragOffset: 1 });
    const later = ipv6Ext({ ...base, chain: [[0, 0], [44, 0]], upper: 17, dport: 0, sport: 0, fragOffset: 1448 });
    expect(runFanoutProgram(prog, 0x86dd, first)).toBe(runFanoutProgram(prog, 0x86dd, later));
    expect(flowClass(spec, 0x86dd, first)?.table).toBe('service');
  });

  it('IPv6 clients of a service port spread over the workers by the service table; a joined worker that does not serve gets none', () => {
    const spec = { workers: 2, slots: [0, 1], serviceSlots: [1, 1] }; // worker 0 has joined (member 0), not serving
    const prog = buildFanoutProgram(spec);
    const seen = new Set<number>();
    for (let sport = 40000; sport < 40064; sport++) {
      const syn = ipv6({ next: 6, src: [0xfd7f0000, 0, 0, 1], sport, dport: 8080, type: 0, ident: 0, len: 60 });
      expect(runFanoutProgram(prog, 0x86dd, syn)).toBe(1);
      seen.add(runFanoutProgram(buildFanoutProgram({ workers: 2 }), 0x86dd, syn));
    }
    expect([...seen].sort()).toEqual([0, 1]);
    // NDP and other ICMPv6, and IPv6 with no next header: worker 0's slot, as before.
    for (const type of [135, 136, 1, 2, 128]) expect(runFanoutProgram(prog, 0x86dd, ipv6({ next: 58, src: [0, 0, 0, 1], sport: 0, dport: 0, type, ident: 0, len: 64 }))).toBe(0);
    expect(runFanoutProgram(prog, 0x86dd, ipv6({ next: 59, src: [0, 0, 0, 1], sport: 1, dport: 8080, type: 0, ident: 0, len: 64 }))).toBe(0);
    // An ephemeral port and an echo reply's identifier: their slice's worker.
    const { low } = workerEphemeralRange(spec, 1);
    expect(runFanoutProgram(prog, 0x86dd, ipv6({ next: 17, src: [0, 0, 0, 1], sport: 53, dport: low, type: 0, ident: 0, len: 48 }))).toBe(1);
    expect(runFanoutProgram(prog, 0x86dd, ipv6({ next: 58, src: [0, 0, 0, 1], sport: 0, dport: 0, type: 129, ident: low, len: 48 }))).toBe(1);
  });

  it("ICMP about a worker's flow goes to that worker: echo replies by identifier, errors by the quoted packet", () => {
    const spec = { workers: 4 };
    const prog = buildFanoutProgram(spec);
    const base = { ihl: 5, ident: 0, src: 0x0a000001, qihl: 5, qproto: 6, qsport: 0, qdport: 80, qdst: 0x0a000009, len: 56 };
    for (let w = 0; w < 4; w++) {
      const { low, high } = workerEphemeralRange(spec, w);
      for (const port of [low, high]) {
        expect(runFanoutProgram(prog, 0x0800, icmpv4({ ...base, type: 0, ident: port }))).toBe(w); // echo reply
        for (const type of [3, 4, 11, 12]) {
          expect(runFanoutProgram(prog, 0x0800, icmpv4({ ...base, type, qsport: port }))).toBe(w); // quoted TCP
          expect(runFanoutProgram(prog, 0x0800, icmpv4({ ...base, type, qproto: 17, qsport: port }))).toBe(w); // quoted UDP
          expect(runFanoutProgram(prog, 0x0800, icmpv4({ ...base, type, qproto: 1, ident: port }))).toBe(w); // quoted ping
        }
      }
    }
    // An error about a service flow (byway's port 7000, the client's 10.0.0.9:port) goes where that client's
    // segments go: the hash of the client's address and port.
    for (let cport = 40000; cport < 40032; cport++) {
      const seg = ipv4({ ihl: 5, frag: 0, proto: 6, src: 0x0a000009, sport: cport, dport: 7000, len: 40 });
      const err = icmpv4({ ...base, type: 3, qsport: 7000, qdport: cport });
      expect(runFanoutProgram(prog, 0x0800, err)).toBe(runFanoutProgram(prog, 0x0800, seg));
    }
  });

  it('sends ARP and IPv6 other than TCP/UDP to worker 0, ephemeral ports to their slice owner, service ports by source hash', () => {
    const spec = { workers: 4 };
    const prog = buildFanoutProgram(spec);
    expect(runFanoutProgram(prog, 0x0806, new Uint8Array(28))).toBe(0);
    const noNext = new Uint8Array(40);
    noNext[6] = 59; // No Next Header (RFC 8200 4.7)
    expect(runFanoutProgram(prog, 0x86dd, noNext)).toBe(0);
    expect(runFanoutProgram(buildFanoutProgram({ workers: 4, slots: [2, 1, 0, 3] }), 0x86dd, noNext)).toBe(2);
    for (let w = 0; w < 4; w++) {
      const { low, high } = workerEphemeralRange(spec, w);
      for (const port of [low, high, (low + high) >> 1]) {
        const b = ipv4({ ihl: 5, frag: 0x4000, proto: 6, src: 0x0a000001, sport: 80, dport: port, len: 40 });
        expect(runFanoutProgram(prog, 0x0800, b)).toBe(w);
      }
    }
    const seen = new Set<number>();
    for (let sport = 40000; sport < 40064; sport++) {
      seen.add(runFanoutProgram(prog, 0x0800, ipv4({ ihl: 5, frag: 0, proto: 17, src: 0x0a000001, sport, dport: 53, len: 28 })));
    }
    expect([...seen].sort()).toEqual([0, 1, 2, 3]);
  });

  it('splits the ephemeral range into disjoint slices that cover it', () => {
    for (const workers of [1, 2, 3, 7, 16]) {
      const slices = Array.from({ length: workers }, (_, i) => workerEphemeralRange({ workers }, i));
      expect(slices[0]!.low).toBe(49152);
      expect(slices[workers - 1]!.high).toBe(65535);
      for (let i = 1; i < workers; i++) expect(slices[i]!.low).toBe(slices[i - 1]!.high + 1);
    }
    expect(() => workerEphemeralRange({ workers: 2 }, 2)).toThrow(RangeError);
    expect(() => buildFanoutProgram({ workers: 0 })).toThrow(RangeError);
  });

  it('assembles for up to 256 workers with two tables (the non-IPv4 return was 300+ instructions away from its jump at 64)', () => {
    for (const workers of [64, 256]) {
      const spec = { workers, slots: Array.from({ length: workers }, (_, i) => (i + 1) % workers), serviceSlots: Array.from({ length: workers }, (_, i) => (i + 2) % workers) };
      const prog = buildFanoutProgram(spec);
      expect(runFanoutProgram(prog, 0x0806, new Uint8Array(28))).toBe(1);
      const syn = ipv6({ next: 6, src: [1, 2, 3, 4], sport: 40000, dport: 8080, type: 0, ident: 0, len: 60 });
      expect(runFanoutProgram(prog, 0x86dd, syn)).toBe(expectedMember(spec, 0x86dd, syn));
    }
  });

  it('refuses a program outside cbpf mode, and cbpf without a program', () => {
    expect(() => openAfPacket({ ifname: 'lo', fanout: { group: 1, mode: 'hash', program: new Uint8Array(8) } })).toThrow(/cbpf/);
    expect(() => openAfPacket({ ifname: 'lo', fanout: { group: 1, mode: 'cbpf' } })).toThrow(/program/);
  });
});

describePrivileged('AF_PACKET fanout with the steering program, on a two-queue veth', () => {
  const lab = new NetLab();
  let nsA = '';
  let nsB = '';
  let link = { a: '', b: '' };
  const members: AfPacketDriver[] = [];
  const spec = { workers: 2 };

  beforeAll(() => {
    nsA = lab.addNetns();
    nsB = lab.addNetns();
    link = lab.addVeth(nsA, nsB, { addrB: '10.77.9.1/24', queues: 2 });
    const group = 1 + ((process.pid * 7) % 60000);
    for (let i = 0; i < 2; i++) {
      members.push(openAfPacket({ ifname: link.a, netns: nsA, ipv4: '10.77.9.2', fanout: { group, mode: 'cbpf', program: buildFanoutProgram(spec) } }));
    }
    const mac = [...members[0]!.hwAddress!].map((x) => x.toString(16).padStart(2, '0')).join(':');
    ipIn(nsB, `neigh add 10.77.9.2 lladdr ${mac} dev ${link.b} nud permanent`);
  });
  afterAll(() => {
    for (const m of members) m.close();
    lab.destroy();
  });

  /** Datagrams from the kernel in B: one per source port (the kernel picks them), to `dport`; then the (sport, dport) each member got. */
  async function sendAndCollect(n: number, dport: number): Promise<Array<Array<{ sport: number; dport: number }>>> {
    const script = `const d=require('node:dgram');let k=0;for(let i=0;i<${n};i++){const s=d.createSocket('udp4');s.send(Buffer.from('fanout'),${dport},'10.77.9.2',()=>{s.close();if(++k===${n})process.exit(0)})}`;
    const r = await execInAsync(nsB, process.execPath, ['-e', script], { timeoutMs: 10_000 });
    expect(r.code).toBe(0);
    const got: Array<Array<{ sport: number; dport: number }>> = [[], []];
    for (let m = 0; m < 2; m++) {
      await waitFrame(members[m]!, (f) => {
        if (get16(f, 12) === 0x0800 && f[23] === 17 && get16(f, 36) === dport) got[m]!.push({ sport: get16(f, 34), dport });
        return false;
      }, 300);
    }
    return got;
  }

  it('each datagram reaches the member flowWorker names: a service port spreads, an ephemeral port goes to its owner', async () => {
    const got = await sendAndCollect(64, 7000);
    expect(got[0]!.length + got[1]!.length).toBe(64);
    expect(got[0]!.length).toBeGreaterThan(0);
    expect(got[1]!.length).toBeGreaterThan(0);
    const ip = (sport: number, dport: number): Uint8Array => {
      const b = new Uint8Array(28);
      b[0] = 0x45;
      b[9] = 17;
      b.set([10, 77, 9, 1], 12);
      b.set([sport >> 8, sport & 0xff, dport >> 8, dport & 0xff], 20);
      return b;
    };
    for (let m = 0; m < 2; m++) for (const d of got[m]!) expect(flowWorker(spec, 0x0800, ip(d.sport, d.dport))).toBe(m);
    for (let w = 0; w < 2; w++) {
      const port = workerEphemeralRange(spec, w).low + 17;
      const owned = await sendAndCollect(16, port);
      expect(owned[w]!.length).toBe(16);
      expect(owned[1 - w]!.length).toBe(0);
    }
  });

  it('IPv6 with extension headers and fragments reaches the member the interpreted program names (the kernel walks the headers too)', async () => {
    const tx = openAfPacket({ ifname: link.b, netns: nsB, filter: false });
    try {
      const prog = buildFanoutProgram(spec);
      const chains: Array<Array<[number, number]>> = [[], [[0, 0]], [[0, 1], [60, 0]], [[43, 2], [60, 1], [60, 0]], [[44, 0]], [[0, 0], [44, 0]]];
      const sent: Array<{ id: number; ip: Uint8Array }> = [];
      for (let id = 0; id < 96; id++) {
        const dport = id % 8 === 7 ? workerEphemeralRange(spec, id % 2).low + id : 7000;
        const ip = ipv6Ext({ chain: chains[id % chains.length]!, upper: 17, src: [0xfd000000, 0x77, id * 7919, id], sport: 40000 + id, dport, type: 0, ident: 0, fragOffset: id % 3 === 0 ? 0 : 8 * id, cut: 0 });
        ip[4] = (ip.length - 40) >> 8;
        ip[5] = (ip.length - 40) & 0xff;
        const f = tx.txReserve(14 + ip.length)!;
        f.set(members[0]!.hwAddress!, 0);
        f.set(tx.hwAddress!, 6);
        f.set([0x86, 0xdd], 12);
        f.set(ip, 14);
        tx.txCommit(0, 14 + ip.length);
        sent.push({ id, ip });
      }
      tx.flush(0);
      const got: number[][] = [[], []];
      for (let m = 0; m < 2; m++) {
        await waitFrame(members[m]!, (f) => {
          if (get16(f, 12) === 0x86dd && get16(f, 22) === 0xfd00 && get16(f, 28) === 0x77) got[m]!.push(get16(f, 36));
          return false;
        }, 300);
      }
      expect(got[0]!.length + got[1]!.length).toBe(sent.length);
      for (const { id, ip } of sent) expect(got[runFanoutProgram(prog, 0x86dd, ip) % 2]).toContain(id);
      expect(got[0]!.length).toBeGreaterThan(0);
      expect(got[1]!.length).toBeGreaterThan(0);
    } finally {
      tx.close();
    }
  });

  it('a program replaced at run time (slots swapped) moves the flows to the other member', async () => {
    members[1]!.setFanoutProgram(buildFanoutProgram({ workers: 2, slots: [1, 0] }));
    try {
      const port = workerEphemeralRange(spec, 0).low + 5;
      const moved = await sendAndCollect(8, port);
      expect(moved[1]!.length).toBe(8);
      expect(moved[0]!.length).toBe(0);
    } finally {
      members[0]!.setFanoutProgram(buildFanoutProgram(spec));
    }
  });
});
