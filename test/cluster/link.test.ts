/**
 * The supervisor's link (src/cluster/link.ts) and a worker's configuration from its environment
 * (src/register/member.ts): messages survive any split of the stream, what cannot be read is counted and ends
 * the reading (never thrown), and each BYWAY_* variable a worker takes is checked and named when wrong.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { LinkReader, MAX_MESSAGE, MsgType, decodeHello, encodeHello, encodeMessage } from '../../src/cluster/link.js';
import { memberFanout, memberFromEnv, memberStackOptions } from '../../src/register/member.js';
import { runFanoutProgram, flowWorker } from '../../drivers/af-packet/fanout.js';
import { Membership } from '../../src/cluster/plan.js';

const types = [MsgType.hello, MsgType.arp, MsgType.program, MsgType.role] as const;

function readAll(chunks: Uint8Array[]): { got: Array<[number, number[]]>; reader: LinkReader } {
  const got: Array<[number, number[]]> = [];
  const reader = new LinkReader((t, p) => got.push([t, [...p]]));
  for (const c of chunks) reader.push(c);
  return { got, reader };
}

describe('link messages', () => {
  it('come out whole and in order however the stream is cut', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom(...types), fc.uint8Array({ maxLength: 300 })), { minLength: 1, maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        (msgs, cuts) => {
          const stream = Buffer.concat(msgs.map(([t, p]) => encodeMessage(t, p)));
          const at = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
          const chunks = [0, ...at, stream.length].slice(1).map((end, i, a) => stream.subarray(i === 0 ? 0 : a[i - 1], end));
          const { got, reader } = readAll([stream.subarray(0, 0), ...chunks]);
          expect(reader.malformed).toBe(0);
          expect(got).toEqual(msgs.map(([t, p]) => [t, [...p]]));
        },
      ),
    );
  });

  it('a message split at every offset is read once', () => {
    const m = encodeMessage(MsgType.program, Uint8Array.from({ length: 40 }, (_, i) => i));
    for (let cut = 0; cut <= m.length; cut++) {
      const { got } = readAll([m.subarray(0, cut), m.subarray(cut)]);
      expect(got).toEqual([[MsgType.program, Array.from({ length: 40 }, (_, i) => i)]]);
    }
  });

  it('an unknown type, a zero or oversized length: counted, reading ends, nothing thrown', () => {
    const bad = [
      Uint8Array.of(0, 0, 0, 2, 0x7e, 0), // type 126: none
      Uint8Array.of(0, 0, 0, 0),
      encodeMessage(MsgType.arp, new Uint8Array(0)).map((b, i) => (i === 1 ? 0x7f : b)),
    ];
    for (const b of bad) {
      const { got, reader } = readAll([encodeMessage(MsgType.role, Uint8Array.of(1)), b, encodeMessage(MsgType.role, Uint8Array.of(0))]);
      expect(got).toEqual([[MsgType.role, [1]]]);
      expect(reader.malformed).toBe(1);
      expect(reader.broken).toBe(true);
    }
    expect(encodeMessage(MsgType.arp, new Uint8Array(MAX_MESSAGE)).length).toBe(MAX_MESSAGE + 5);
    expect(readAll([encodeMessage(MsgType.arp, new Uint8Array(MAX_MESSAGE))]).reader.malformed).toBe(0);
  });

  it('a hello round-trips; anything else in its place is refused', () => {
    const h = { index: 1, pid: 4242, control: '/run/user/0/byway/4242.sock' };
    const { got } = readAll([encodeHello(h)]);
    expect(decodeHello(Uint8Array.from(got[0]![1]))).toEqual(h);
    expect(decodeHello(new TextEncoder().encode(JSON.stringify({ ...h, control: null })))).toEqual({ ...h, control: null });
    for (const v of ['{', 'null', '[]', JSON.stringify({ ...h, index: -1 }), JSON.stringify({ ...h, pid: 0 }), JSON.stringify({ ...h, control: 5 })]) {
      expect(decodeHello(new TextEncoder().encode(v))).toBeUndefined();
    }
  });
});

describe("a worker's configuration (BYWAY_WORKER, BYWAY_CLUSTER, BYWAY_FANOUT, BYWAY_ARP)", () => {
  const env = { BYWAY_WORKER: '1/2', BYWAY_CLUSTER: '/run/byway/run-1.link', BYWAY_FANOUT: '4242:0,0:0,0', BYWAY_ARP: 'relay' };

  it('absent outside byway run --workers; read when set', () => {
    expect(memberFromEnv({})).toBeUndefined();
    expect(memberFromEnv(env)).toEqual({ index: 1, workers: 2, group: 4242, slots: [0, 0], serviceSlots: [0, 0], answerArp: false, link: '/run/byway/run-1.link' });
  });

  it('on AF_XDP: BYWAY_XSKMAP (the inherited map) instead of BYWAY_FANOUT', () => {
    const x = { ...env, BYWAY_FANOUT: '', BYWAY_XSKMAP: '3' };
    expect(memberFromEnv(x)).toEqual({ index: 1, workers: 2, group: 0, slots: [], serviceSlots: [], answerArp: false, link: '/run/byway/run-1.link', xskMapFd: 3 });
    expect(() => memberFromEnv({ ...x, BYWAY_XSKMAP: 'fd3' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE', message: expect.stringMatching(/^BYWAY_XSKMAP: expected/) }));
  });

  it('each malformed variable is named', () => {
    const cases: Array<[Record<string, string>, string]> = [
      [{ BYWAY_WORKER: '2/2' }, 'BYWAY_WORKER'],
      [{ BYWAY_WORKER: 'x' }, 'BYWAY_WORKER'],
      [{ BYWAY_WORKER: '0/65' }, 'BYWAY_WORKER'],
      [{ BYWAY_CLUSTER: 'rel/path' }, 'BYWAY_CLUSTER'],
      [{ BYWAY_FANOUT: '4242:0' }, 'BYWAY_FANOUT'],
      [{ BYWAY_FANOUT: '4242:0,1' }, 'BYWAY_FANOUT'],
      [{ BYWAY_FANOUT: '4242:0,1:0' }, 'BYWAY_FANOUT'],
      [{ BYWAY_FANOUT: '4242:0,2:0,0' }, 'BYWAY_FANOUT'],
      [{ BYWAY_FANOUT: '70000:0,1:0,1' }, 'BYWAY_FANOUT'],
      [{ BYWAY_ARP: 'yes' }, 'BYWAY_ARP'],
    ];
    for (const [change, name] of cases) {
      expect(() => memberFromEnv({ ...env, ...change })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE', message: expect.stringMatching(new RegExp(`^${name}: expected`)) }));
    }
  });

  it("the stack takes the worker's ephemeral slice (over the profile's limits) and the ARP role; the program steers as flowWorker", () => {
    const cfg = memberFromEnv({ ...env, BYWAY_FANOUT: '4242:0,1:0,0' })!;
    const o = memberStackOptions(cfg, { limits: { tcp: { noDelay: true } } });
    expect(o.answerArp).toBe(false);
    expect(o.limits?.tcp).toEqual({ noDelay: true, ephemeralLow: 57344, ephemeralHigh: 65535 });
    expect(o.limits?.udp).toEqual({ ephemeralLow: 57344, ephemeralHigh: 65535 });
    expect(o.limits?.icmp).toEqual({ echoIdent: 57344 }); // its pings' identifier: echo replies steered back to it
    expect(memberStackOptions(memberFromEnv({ ...env, BYWAY_WORKER: '0/2', BYWAY_ARP: 'answer' })!, {}).answerArp).toBe(true);
    const { program, group, mode } = memberFanout(cfg);
    expect({ group, mode }).toEqual({ group: 4242, mode: 'cbpf' });
    // A UDP packet (IPv4 header at 0) to port 60000, inside worker 1's slice: member 1.
    const pkt = new Uint8Array(28);
    pkt.set([0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 0x30, 0x39, 0xea, 0x60]);
    expect(runFanoutProgram(program, 0x0800, pkt)).toBe(flowWorker({ workers: 2 }, 0x0800, pkt));
    expect(flowWorker({ workers: 2 }, 0x0800, pkt)).toBe(1);
    // Its clients (service table 0,0) go to member 0 until it serves: a port every worker listens on.
    const clients = [0, 1, 2, 3, 4, 5, 6, 7].map((sport) => {
      const q = pkt.slice();
      q.set([0x1f, 0x90 + sport, 0x1f, 0x90], 20); // from 8080+sport to 8080
      return [flowWorker({ workers: 2 }, 0x0800, q), runFanoutProgram(program, 0x0800, q)];
    });
    expect(clients.some(([w]) => w === 1)).toBe(true);
    expect(clients.every(([, m]) => m === 0)).toBe(true);
  });
});

describe('Membership: the service table of a cluster whose workers join before they listen', () => {
  it('a joined worker keeps its slice at once and gets its clients once it serves; a leaver gives them back', () => {
    const m = new Membership(3);
    expect(m.serviceSlotsAfterJoin(0)).toEqual([0, 0, 0]);
    m.join(0);
    m.join(1);
    expect(m.slots()).toEqual([0, 1, 0]);
    expect(m.serviceSlots()).toEqual([0, 0, 0]); // nobody serves yet: the ARP owner's member
    m.serve(1);
    expect(m.serviceSlots()).toEqual([1, 1, 1]); // the lowest serving member takes the others' clients
    m.serve(0);
    expect(m.serviceSlotsAfterJoin(2)).toEqual([0, 1, 0]);
    m.join(2);
    m.serve(2);
    expect(m.serviceSlots()).toEqual([0, 1, 2]);
    m.leave(0); // the kernel moves worker 2 into position 0
    expect(m.slots()).toEqual([1, 1, 0]);
    expect(m.serviceSlots()).toEqual([1, 1, 0]);
    m.serve(0); // not a member: ignored
    expect(m.serviceSlots()).toEqual([1, 1, 0]);
  });
});
