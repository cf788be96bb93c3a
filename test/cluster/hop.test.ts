/**
 * The TAP cluster's hop (src/cluster/worker.ts): `sliceOwner` names the worker whose ephemeral slice a frame's
 * destination port is in, and a relay with `divert` hands such frames to `relay` only, never to its own stack
 * (which would answer another worker's segment with a reset). `everyWorkerSees` names what every worker gets a
 * copy of: ARP, and ICMP errors quoting a service flow (which worker serves it, the device's hash decided).
 */
import { describe, expect, it } from 'vitest';
import { everyWorkerSees, sliceOwner } from '../../src/cluster/plan.js';
import { relay } from '../../drivers/middleware/relay.js';
import { memoryLink } from '../../drivers/memory/index.js';

/** An Ethernet frame with an IPv4 header (IHL 5) and the first 4 bytes of a TCP or UDP header. */
function frame(opts: { proto?: number; dport: number; frag?: number; etherType?: number }): Uint8Array {
  const f = new Uint8Array(14 + 20 + 8);
  f[12] = (opts.etherType ?? 0x0800) >> 8;
  f[13] = (opts.etherType ?? 0x0800) & 0xff;
  f[14] = 0x45;
  f[20] = (opts.frag ?? 0) >> 8;
  f[21] = (opts.frag ?? 0) & 0xff;
  f[23] = opts.proto ?? 6;
  f[36] = opts.dport >> 8;
  f[37] = opts.dport & 0xff;
  return f;
}

describe('sliceOwner', () => {
  it('the owner of the slice for TCP and UDP to an ephemeral port; nothing for anything else', () => {
    const spec = { workers: 2 };
    expect(sliceOwner(spec, frame({ dport: 49152 }))).toBe(0);
    expect(sliceOwner(spec, frame({ dport: 57343, proto: 17 }))).toBe(0);
    expect(sliceOwner(spec, frame({ dport: 57344 }))).toBe(1);
    expect(sliceOwner(spec, frame({ dport: 65535, proto: 17 }))).toBe(1);
    expect(sliceOwner(spec, frame({ dport: 8080 }))).toBeUndefined(); // a service port: wherever the kernel put it
    expect(sliceOwner(spec, frame({ dport: 60000, proto: 1 }))).toBeUndefined();
    expect(sliceOwner(spec, frame({ dport: 60000, frag: 0x2000 }))).toBeUndefined();
    expect(sliceOwner(spec, frame({ dport: 60000, etherType: 0x0806 }))).toBeUndefined();
    expect(sliceOwner(spec, frame({ dport: 60000 }).subarray(0, 36))).toBeUndefined(); // too short: no port
    expect(sliceOwner({ workers: 4 }, frame({ dport: 61440 }))).toBe(3);
  });
});

/** An Ethernet frame with an IPv6 fixed header and 8 bytes of `next` (TCP/UDP: ports; ICMPv6: type, identifier). */
function frame6(next: number, l4: number[], quoted?: { next: number; l4: number[] }): Uint8Array {
  const f = new Uint8Array(14 + 40 + 8 + (quoted ? 48 : 0));
  f[12] = 0x86;
  f[13] = 0xdd;
  f[14] = 0x60;
  f[20] = next;
  f.set(l4, 54);
  if (quoted) {
    f[62] = 0x60;
    f[68] = quoted.next;
    f.set(quoted.l4, 102);
  }
  return f;
}
const be = (n: number): number[] => [n >> 8, n & 0xff];

describe('sliceOwner and everyWorkerSees over IPv6', () => {
  it('TCP/UDP to an ephemeral port, an echo reply by identifier and an error quoting a packet from the slice go to its owner; errors about a service flow to every worker', () => {
    const spec = { workers: 2 };
    expect(sliceOwner(spec, frame6(6, [...be(9000), ...be(50000)]))).toBe(0);
    expect(sliceOwner(spec, frame6(17, [...be(53), ...be(60000)]))).toBe(1);
    expect(sliceOwner(spec, frame6(6, [...be(50000), ...be(8080)]))).toBeUndefined(); // a client of a service port
    expect(sliceOwner(spec, frame6(58, [129, 0, 0, 0, ...be(57344)]))).toBe(1); // echo reply
    expect(sliceOwner(spec, frame6(58, [135, 0, 0, 0]))).toBeUndefined(); // NDP: the kernel's (shared mode)
    expect(sliceOwner(spec, frame6(44, [6, 0, 0, 1]))).toBeUndefined(); // a fragment header: no port here
    // Behind hop-by-hop and destination options headers (walked as the fanout program walks them), not past 4.
    const behind = (exts: number): Uint8Array => {
      const f = new Uint8Array(54 + 8 * exts + 8);
      f.set([0x86, 0xdd], 12);
      f[20] = exts === 0 ? 17 : 0;
      for (let i = 0; i < exts; i++) f[54 + 8 * i] = i + 1 < exts ? 60 : 17;
      f.set([...be(53), ...be(60000)], 54 + 8 * exts);
      return f;
    };
    expect([0, 1, 2, 4, 5].map((n) => sliceOwner(spec, behind(n)))).toEqual([1, 1, 1, 1, undefined]);
    expect(sliceOwner(spec, behind(2).subarray(0, 54 + 16 + 3))).toBeUndefined(); // cut short
    // Packet too big quoting worker 1's TCP segment (source port in its slice); port unreachable quoting worker 0's ping.
    expect(sliceOwner(spec, frame6(58, [2, 0, 0, 0], { next: 6, l4: [...be(60000), ...be(443)] }))).toBe(1);
    expect(sliceOwner(spec, frame6(58, [1, 4, 0, 0], { next: 58, l4: [128, 0, 0, 0, ...be(49152)] }))).toBe(0);
    const aboutService = frame6(58, [2, 0, 0, 0], { next: 6, l4: [...be(7000), ...be(50123)] });
    expect(sliceOwner(spec, aboutService)).toBeUndefined();
    expect(everyWorkerSees(spec, aboutService)).toBe(true);
    expect(everyWorkerSees(spec, frame6(58, [2, 0, 0, 0], { next: 6, l4: [...be(60000), ...be(443)] }))).toBe(false);
    expect(everyWorkerSees(spec, frame6(6, [...be(50000), ...be(8080)]))).toBe(false);
    expect(sliceOwner(spec, frame6(58, [2, 0, 0, 0], { next: 6, l4: [] }).subarray(0, 90))).toBeUndefined(); // cut short
    // Neighbour and router advertisements to every worker (each keeps its own cache and router list); solicitations not.
    expect([136, 134, 135, 133].map((t) => everyWorkerSees(spec, frame6(58, [t, 0, 0, 0])))).toEqual([true, true, false, false]);
  });
});

describe('relay with divert', () => {
  it('matched frames go to relay only; the others, and injected ones, to the stack', () => {
    const [a, b] = memoryLink();
    const relayed: number[] = [];
    const r = relay(b, { match: (f) => sliceOwner({ workers: 2 }, f) === 1, divert: true, relay: (f) => relayed.push((f[36]! << 8) | f[37]!) });
    const tx = (f: Uint8Array): void => {
      const buf = a.txReserve(f.length)!;
      buf.set(f);
      a.txCommit(0, f.length);
    };
    tx(frame({ dport: 60000 }));
    tx(frame({ dport: 50000 }));
    tx(frame({ dport: 8080 }));
    a.flush(0);
    r.inject(frame({ dport: 61000 }));
    const seen: number[] = [];
    r.receive(0, 16, (f) => void seen.push((f[36]! << 8) | f[37]!));
    expect(relayed).toEqual([60000]);
    expect(seen).toEqual([61000, 50000, 8080]);
    expect(r.counters).toEqual({ relayed: 1, injected: 1, dropped: 0 });
  });
});

/** An ICMP message of `type` quoting a TCP segment from `sport` to `dport` (the quoted header's IHL `qihl`). */
function icmpError(type: number, sport: number, dport: number, opts: { qihl?: number; frag?: number } = {}): Uint8Array {
  const qihl = opts.qihl ?? 5;
  const f = new Uint8Array(14 + 20 + 8 + qihl * 4 + 8);
  f[12] = 0x08;
  f[14] = 0x45;
  f[20] = (opts.frag ?? 0) >> 8;
  f[23] = 1;
  f[34] = type;
  const q = 42;
  f[q] = 0x40 | qihl;
  f[q + 9] = 6;
  f.set([10, 77, 1, 2], q + 16);
  const l4 = q + qihl * 4;
  f[l4] = sport >> 8;
  f[l4 + 1] = sport & 0xff;
  f[l4 + 2] = dport >> 8;
  f[l4 + 3] = dport & 0xff;
  return f;
}

describe('everyWorkerSees', () => {
  const spec = { workers: 2 };
  it('ARP, and ICMP errors quoting a service flow (any IHL); not errors about an ephemeral slice, which hop', () => {
    expect(everyWorkerSees(spec, frame({ dport: 0, etherType: 0x0806 }))).toBe(true);
    for (const type of [3, 4, 11, 12]) expect(everyWorkerSees(spec, icmpError(type, 7000, 51000))).toBe(true);
    expect(everyWorkerSees(spec, icmpError(3, 8080, 40000, { qihl: 7 }))).toBe(true);
    expect(everyWorkerSees(spec, icmpError(3, 60000, 80))).toBe(false); // worker 1's own connection: sliceOwner
    expect(sliceOwner(spec, icmpError(3, 60000, 80))).toBe(1);
  });
  it('nothing else: segments, echo replies, other ICMP, fragments, IPv6, short frames', () => {
    expect(everyWorkerSees(spec, frame({ dport: 7000 }))).toBe(false);
    expect(everyWorkerSees(spec, frame({ dport: 60000 }))).toBe(false);
    expect(everyWorkerSees(spec, icmpError(0, 7000, 51000))).toBe(false);
    expect(everyWorkerSees(spec, icmpError(8, 7000, 51000))).toBe(false);
    expect(everyWorkerSees(spec, icmpError(3, 7000, 51000, { frag: 0x2000 }))).toBe(false);
    expect(everyWorkerSees(spec, frame({ dport: 0, etherType: 0x86dd }))).toBe(false);
    expect(everyWorkerSees(spec, icmpError(3, 7000, 51000).subarray(0, 30))).toBe(false);
    expect(everyWorkerSees(spec, icmpError(3, 7000, 51000).subarray(0, 50))).toBe(false); // the quote cut short
  });
});
