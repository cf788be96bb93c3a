/**
 * Structure-aware generators (fast-check arbitraries): valid-looking headers for each protocol with, most of the
 * time, one field made wrong (IHL, total length, fragment offset, option lengths, data offset, length fields,
 * checksum...). Checksums are recomputed after the mutation unless the mutation is the checksum itself, so the
 * packet gets past the checksum check and reaches the code behind it.
 */
import fc from 'fast-check';
import { read16, write16, write32 } from '../../protocols/util/bytes.js';
import { buildIpv4, fixIpChecksum, fixL4Checksum, refPseudo, refSum } from './packets.js';

const u8 = fc.integer({ min: 0, max: 0xff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });

export const payloadArb = (max = 256): fc.Arbitrary<Uint8Array> =>
  fc.oneof(
    { weight: 3, arbitrary: fc.uint8Array({ maxLength: Math.min(max, 64) }) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max }).map((n) => new Uint8Array(n).fill(0x5a)) },
  );

/** One TCP option as raw bytes: the known kinds with right or wrong lengths, NOP, EOL, unknown kinds. */
const tcpOptionArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  u16.map((m) => Uint8Array.of(2, 4, m >>> 8, m & 0xff)),
  u8.map((s) => Uint8Array.of(3, 3, s)),
  fc.constant(Uint8Array.of(4, 2)),
  fc.array(fc.tuple(u32, u32), { minLength: 1, maxLength: 4 }).map((blocks) => {
    const b = new Uint8Array(2 + blocks.length * 8);
    b[0] = 5;
    b[1] = b.length;
    blocks.forEach(([l, r], k) => {
      write32(b, 2 + k * 8, l);
      write32(b, 6 + k * 8, r);
    });
    return b;
  }),
  fc.tuple(u32, u32).map(([v, e]) => {
    const b = Uint8Array.of(8, 10, 0, 0, 0, 0, 0, 0, 0, 0);
    write32(b, 2, v);
    write32(b, 6, e);
    return b;
  }),
  fc.constant(Uint8Array.of(1)),
  fc.constant(Uint8Array.of(0)),
  // wrong length for a known kind, or an unknown kind, or a length running past the header
  fc.tuple(fc.constantFrom(2, 3, 4, 5, 8, 30, 34, 253, 254), fc.integer({ min: 0, max: 44 }), fc.uint8Array({ maxLength: 12 })).map(
    ([k, l, rest]) => Uint8Array.of(k, l, ...rest),
  ),
);

export const tcpOptionsArb: fc.Arbitrary<Uint8Array> = fc.array(tcpOptionArb, { maxLength: 6 }).map((opts) => {
  const flat: number[] = [];
  for (const o of opts) flat.push(...o);
  return Uint8Array.from(flat.slice(0, 40));
});

export interface TcpGen {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  urgent: number;
  options: Uint8Array;
  payload: Uint8Array;
  /** Wrong field: undefined (none), or which one. */
  wrong: 'offset' | 'checksum' | 'truncate' | undefined;
  wrongValue: number;
}

export const tcpFlagsArb: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(0x02, 0x12, 0x10, 0x18, 0x11, 0x19, 0x04, 0x14, 0x01, 0x00, 0x03, 0x06, 0x07, 0x13, 0x16, 0x3f, 0xff, 0x50, 0xd2),
  u8,
);

export const tcpGenArb = (ports?: fc.Arbitrary<[number, number]>): fc.Arbitrary<TcpGen> =>
  fc.record({
    ports: ports ?? fc.tuple(u16, u16),
    seq: u32,
    ack: u32,
    flags: tcpFlagsArb,
    window: u16,
    urgent: fc.oneof(fc.constant(0), u16),
    options: tcpOptionsArb,
    payload: payloadArb(1200),
    wrong: fc.option(fc.constantFrom('offset' as const, 'checksum' as const, 'truncate' as const), { freq: 3, nil: undefined }),
    wrongValue: u16,
  }).map((r) => ({ ...r, srcPort: r.ports[0], dstPort: r.ports[1] }));

/** Raw TCP segment bytes (checksum valid for src -> dst unless the wrong field is the checksum). */
export function tcpBytes(g: TcpGen, src: number, dst: number): Uint8Array {
  const optLen = Math.min((g.options.length + 3) & ~3, 40);
  const hl = 20 + optLen;
  const b = new Uint8Array(hl + g.payload.length);
  write16(b, 0, g.srcPort);
  write16(b, 2, g.dstPort);
  write32(b, 4, g.seq);
  write32(b, 8, g.ack);
  b[12] = (hl >>> 2) << 4;
  b[13] = g.flags;
  write16(b, 14, g.window);
  write16(b, 18, g.urgent);
  b.set(g.options.subarray(0, optLen), 20);
  b.set(g.payload, hl);
  if (g.wrong === 'offset') b[12] = (g.wrongValue & 0x0f) << 4;
  const out = g.wrong === 'truncate' ? b.subarray(0, g.wrongValue % (b.length + 1)) : b;
  if (out.length >= 18) {
    write16(out, 16, 0);
    write16(out, 16, ~refSum(out, 0, out.length, refPseudo(src, dst, 6, out.length)) & 0xffff);
    if (g.wrong === 'checksum') write16(out, 16, read16(out, 16) ^ (g.wrongValue | 1));
  }
  return out;
}

/** IPv4 option bytes: NOP/EOL, record route, timestamps, junk with right or wrong lengths. */
const ipOptionsArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 4, arbitrary: fc.constant(new Uint8Array(0)) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 40 }) },
  { weight: 1, arbitrary: fc.integer({ min: 3, max: 39 }).map((l) => Uint8Array.of(1, 7, l, 4, ...new Uint8Array(36)).subarray(0, 40)) },
);

export type IpWrong = 'version' | 'ihl' | 'total-short' | 'total-long' | 'total' | 'frag' | 'checksum' | 'truncate' | 'pad' | 'ttl0' | 'evil' | undefined;

export interface IpGen {
  src: number;
  dst: number;
  proto: number;
  ttl: number;
  ident: number;
  flagsFrag: number;
  tos: number;
  options: Uint8Array;
  wrong: IpWrong;
  wrongValue: number;
}

export const ipWrongArb: fc.Arbitrary<IpWrong> = fc.option(
  fc.constantFrom<IpWrong>('version', 'ihl', 'total-short', 'total-long', 'total', 'frag', 'checksum', 'truncate', 'pad', 'ttl0', 'evil'),
  { freq: 2, nil: undefined },
);

/**
 * Wrap an L4 payload in an IPv4 header, fix the L4 checksum (unfragmented), then apply the wrong field and fix
 * the header checksum (unless the wrong field is the checksum).
 */
export function ipBytes(g: IpGen, l4: Uint8Array): Uint8Array {
  const p = buildIpv4({ src: g.src, dst: g.dst, proto: g.proto, payload: l4, ttl: g.ttl, ident: g.ident, flagsFrag: g.flagsFrag, tos: g.tos, options: g.options });
  fixL4Checksum(p, 0);
  let b = p;
  const v = g.wrongValue;
  switch (g.wrong) {
    case 'version':
      b[0] = ((v % 16) << 4) | (b[0]! & 0x0f);
      break;
    case 'ihl':
      b[0] = 0x40 | (v & 0x0f);
      break;
    case 'total-short':
      write16(b, 2, v % 24);
      break;
    case 'total-long':
      write16(b, 2, b.length + 1 + (v % 64));
      break;
    case 'total':
      write16(b, 2, v);
      break;
    case 'frag':
      write16(b, 6, v);
      break;
    case 'truncate':
      b = b.subarray(0, v % (b.length + 1));
      break;
    case 'pad': {
      const padded = new Uint8Array(b.length + 1 + (v % 40));
      padded.set(b);
      b = padded;
      break;
    }
    case 'ttl0':
      b[8] = 0;
      break;
    case 'evil':
      b[6] = b[6]! | 0x80;
      break;
  }
  if (g.wrong !== 'checksum') fixIpChecksum(b, 0);
  else if (b.length >= 12) write16(b, 10, read16(b, 10) ^ (v | 1));
  return b;
}

export const ipGenArb = (addrs: fc.Arbitrary<[number, number]>, proto: fc.Arbitrary<number>): fc.Arbitrary<IpGen> =>
  fc.record({
    addrs,
    proto,
    ttl: fc.oneof(fc.constant(64), u8),
    ident: u16,
    flagsFrag: fc.oneof({ weight: 5, arbitrary: fc.constantFrom(0, 0x4000) }, { weight: 1, arbitrary: u16 }),
    tos: fc.oneof(fc.constant(0), u8),
    options: ipOptionsArb,
    wrong: ipWrongArb,
    wrongValue: u16,
  }).map((r) => ({ ...r, src: r.addrs[0], dst: r.addrs[1] }));

/** UDP datagram bytes with its checksum; the wrong field is the length or the checksum. */
export const udpArb = (ports: fc.Arbitrary<[number, number]>, src: number, dst: number): fc.Arbitrary<Uint8Array> =>
  fc.record({
    ports,
    payload: payloadArb(1400),
    wrong: fc.option(fc.constantFrom('length' as const, 'checksum' as const, 'zero-checksum' as const), { freq: 3, nil: undefined }),
    v: u16,
  }).map(({ ports: [sp, dp], payload, wrong, v }) => {
    const b = new Uint8Array(8 + payload.length);
    write16(b, 0, sp);
    write16(b, 2, dp);
    write16(b, 4, b.length);
    b.set(payload, 8);
    if (wrong === 'length') write16(b, 4, v % 2 === 0 ? v : b.length + (v % 7) - 3);
    const ulen = Math.min(read16(b, 4), b.length);
    const c = ~refSum(b, 0, ulen, refPseudo(src, dst, 17, read16(b, 4))) & 0xffff;
    write16(b, 6, wrong === 'zero-checksum' ? 0 : wrong === 'checksum' ? (c ^ (v | 1)) & 0xffff : c === 0 ? 0xffff : c);
    return b;
  });

/** ICMP messages: echo, errors quoting a packet (often one of ours), other types; checksum usually right. */
export const icmpArb = (quotedArb: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> =>
  fc.record({
    type: fc.oneof(fc.constantFrom(0, 3, 8, 11, 4, 5), u8),
    code: fc.oneof(fc.constantFrom(0, 1, 3, 4), u8),
    rest: fc.oneof(fc.constant(0), u32, u16),
    body: fc.oneof(payloadArb(512), quotedArb),
    badChecksum: fc.oneof({ weight: 7, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  }).map(({ type, code, rest, body, badChecksum }) => {
    const b = new Uint8Array(8 + body.length);
    b[0] = type;
    b[1] = code;
    write32(b, 4, rest);
    b.set(body, 8);
    write16(b, 2, (~refSum(b, 0, b.length) & 0xffff) ^ (badChecksum ? 1 : 0));
    return b;
  });

/** ARP packets: the supported format with random fields, sometimes one header field wrong or truncated. */
export const arpArb = (sender: fc.Arbitrary<number>, target: fc.Arbitrary<number>): fc.Arbitrary<Uint8Array> =>
  fc.record({
    op: fc.oneof(fc.constantFrom(1, 2), u16),
    sha: fc.oneof(fc.constant(Uint8Array.of(2, 0, 0, 0, 0, 2)), fc.uint8Array({ minLength: 6, maxLength: 6 })),
    spa: sender,
    tha: fc.uint8Array({ minLength: 6, maxLength: 6 }),
    tpa: target,
    wrong: fc.option(fc.constantFrom(0, 2, 4, 5, 28), { freq: 4, nil: undefined }),
    v: u16,
  }).map(({ op, sha, spa, tha, tpa, wrong, v }) => {
    const b = new Uint8Array(28);
    write16(b, 0, 1);
    write16(b, 2, 0x0800);
    b[4] = 6;
    b[5] = 4;
    write16(b, 6, op);
    b.set(sha, 8);
    write32(b, 14, spa);
    b.set(tha, 18);
    write32(b, 24, tpa);
    if (wrong === 28) return b.subarray(0, v % 28);
    if (wrong !== undefined) b[wrong + (v & 1)] = v >>> 8;
    return b;
  });

export { u8, u16, u32 };
