/**
 * AF_PACKET fanout in 'cbpf' mode with byway's steering program (drivers/af-packet/fanout.ts): the program, run by
 * an interpreter, agrees with flowWorker (the rule byway computes) for any IPv4 packet; on a real veth, every
 * datagram the kernel sends reaches the member flowWorker predicts, and a program replaced at run time moves them.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildFanoutProgram,
  flowWorker,
  openAfPacket,
  runFanoutProgram,
  workerEphemeralRange,
  type AfPacketDriver,
} from '../../drivers/af-packet/index.js';
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

describe('fanout steering program (interpreted)', () => {
  it('computes flowWorker for every IPv4 packet, through the slot table, for 1 to 7 workers', () => {
    fc.assert(
      fc.property(packet, fc.integer({ min: 1, max: 7 }), fc.boolean(), (p, workers, permuted) => {
        const slots = Array.from({ length: workers }, (_, i) => (permuted ? workers - 1 - i : i));
        const spec = { workers, slots };
        const prog = buildFanoutProgram(spec);
        const bytes = ipv4(p);
        const got = runFanoutProgram(prog, 0x0800, bytes) % workers;
        const w = flowWorker(spec, 0x0800, bytes);
        // A packet too short to read ends the kernel's program with 0 (member 0), whatever the slots say.
        const short = bytes.length < 16 || ((p.proto === 6 || p.proto === 17) && (p.frag & 0x3fff) === 0 && p.ihl * 4 + 4 > bytes.length);
        expect(got).toBe(short ? 0 : slots[w]);
      }),
      { numRuns: 3000 },
    );
  });

  it('with serviceSlots: the hashed classes go through serviceSlots, ephemeral slices and ARP through slots', () => {
    fc.assert(
      fc.property(packet, fc.integer({ min: 1, max: 7 }), fc.integer({ min: 0, max: 6 }), (p, workers, seed) => {
        const slots = Array.from({ length: workers }, (_, i) => (i + seed) % workers);
        const serviceSlots = Array.from({ length: workers }, (_, i) => (i * 3 + seed + 1) % workers);
        const spec = { workers, slots, serviceSlots };
        const prog = buildFanoutProgram(spec);
        const bytes = ipv4(p);
        const w = flowWorker(spec, 0x0800, bytes);
        const ports = (p.proto === 6 || p.proto === 17) && (p.frag & 0x3fff) === 0;
        const short = bytes.length < 16 || (ports && p.ihl * 4 + 4 > bytes.length);
        const { low } = workerEphemeralRange(spec, 0);
        const ephemeral = ports && !short && ((bytes[p.ihl * 4 + 2]! << 8) | bytes[p.ihl * 4 + 3]!) >= low;
        expect(runFanoutProgram(prog, 0x0800, bytes) % workers).toBe(short ? 0 : ephemeral ? slots[w] : serviceSlots[w]);
        expect(runFanoutProgram(prog, 0x0806, new Uint8Array(28))).toBe(slots[0]);
      }),
      { numRuns: 3000 },
    );
  });

  it('sends ARP and IPv6 to worker 0, ephemeral ports to their slice owner, service ports by source hash', () => {
    const spec = { workers: 4 };
    const prog = buildFanoutProgram(spec);
    expect(runFanoutProgram(prog, 0x0806, new Uint8Array(28))).toBe(0);
    expect(runFanoutProgram(prog, 0x86dd, new Uint8Array(40))).toBe(0);
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
