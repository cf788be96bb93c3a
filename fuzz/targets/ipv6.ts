/**
 * Targets for the IPv6 protocol layer (issue #18): address text, the fixed header and extension-header walker,
 * ICMPv6 and NDP messages, and fragment reassembly. Each checks that nothing throws on any input and the oracles
 * written in its description.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import {
  formatIpv6,
  ipv6CidrContains,
  ipv6Equals,
  ipv6NetworkOf,
  ipv6Scope,
  parseIpv6,
  parseIpv6Cidr,
  parseIpv6WithZone,
  solicitedNodeMulticast,
} from '../../protocols/ipv6/address.js';
import { IPV6_HEADER_LEN, Ipv6Packet, NextHeader, emitIpv6Header, ipv6PseudoHeaderSum, parseIpv6Header } from '../../protocols/ipv6/wire.js';
import { emitFragmentHeader, walkExtensionHeaders, type ChainResult } from '../../protocols/ipv6/wire-ext.js';
import { fragmentIpv6 } from '../../protocols/ipv6/fragmenter.js';
import { Ipv6Reassembler } from '../../protocols/ipv6/reassembly.js';
import { Icmpv6Packet, emitIcmpv6, icmpv6BufferLen, parseIcmpv6 } from '../../protocols/icmpv6/wire.js';
import { emitNdp, isNdpType, ndpBufferLen, parseNdp, validateNdp } from '../../protocols/icmpv6/wire-ndp.js';
import { mayAnswerWithError } from '../../protocols/icmpv6/errors.js';
import { fromHex, read16 } from '../../protocols/util/bytes.js';
import { refSum } from '../lib/packets.js';
import { decodeRecords, encodeRecords } from '../lib/records.js';
import { check, checkSame, type FuzzTarget } from '../lib/target.js';

const latin1 = new TextDecoder('latin1');
const enc = new TextEncoder();
const u8 = fc.integer({ min: 0, max: 0xff });

const SRC = parseIpv6('fe80::2')!;
const DST = parseIpv6('fe80::1')!;

let captured: Uint8Array[] | undefined;
/** The IPv6 packets of test/fixtures/ipv6-frames.json (real Linux frames, scripts/capture-ipv6-fixtures.sh). */
function capturedIpv6(): Uint8Array[] {
  if (captured === undefined) {
    const list = JSON.parse(readFileSync(new URL('../../test/fixtures/ipv6-frames.json', import.meta.url), 'utf8')) as { hex: string }[];
    captured = list.map((f) => fromHex(f.hex).subarray(14));
  }
  return captured;
}

/** The ICMPv6 messages inside the captured packets (after any extension headers). */
function capturedIcmpv6(): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const b of capturedIpv6()) {
    const p = Ipv6Packet.checked(b);
    const w = p === undefined ? undefined : walkExtensionHeaders(p);
    if (p !== undefined && w?.kind === 'upper' && w.protocol === NextHeader.ICMPv6) out.push(p.buffer.subarray(w.offset));
  }
  return out;
}

export const ipv6AddressTarget: FuzzTarget = {
  name: 'ipv6-address',
  description: 'parseIpv6 / parseIpv6WithZone / parseIpv6Cidr on any text: parse(format(parse(s))) is parse(s), the format is a fixed point, prefixes contain their network',
  format: 'bytes',
  maxLen: 64,
  seeds: () => ['::', '::1', 'fe80::1%eth0', '2001:db8::/32', '::ffff:1.2.3.4', '1:2:3:4:5:6:7:8', '1::2::3', '2001:DB8:0:0:1:0:0:1', 'ff02::1:ff00:1/104', ':::'].map((s) => enc.encode(s)),
  generator: () =>
    fc.array(fc.constantFrom('0', '1', 'f', 'F', 'ff', '1234', 'abcd', '12345', ':', ':', '::', '.', '1.2.3.4', '255', '256', '/', '64', '128', '%', 'eth0', ' ', 'g'), { maxLength: 20 }).map((parts) => enc.encode(parts.join(''))),
  run(input) {
    const s = latin1.decode(input);
    const a = parseIpv6(s);
    if (a !== undefined) {
      check(a.length === 16, 'address length');
      const text = formatIpv6(a);
      const back = parseIpv6(text);
      check(back !== undefined && ipv6Equals(back, a), `parseIpv6(formatIpv6(parseIpv6(${JSON.stringify(s)}))) differs`);
      check(formatIpv6(back) === text, 'formatIpv6 is not a fixed point');
      check(text === text.toLowerCase() && !/(^|:)0[0-9a-f]/.test(text), `not RFC 5952 canonical: ${text}`);
      const sc = ipv6Scope(a);
      check(Number.isInteger(sc) && sc >= 0 && sc <= 15, `scope ${sc}`);
      check(solicitedNodeMulticast(a)[15] === a[15], 'solicited-node group lost the low bits');
    }
    const z = parseIpv6WithZone(s);
    if (!s.includes('%')) check((z !== undefined) === (a !== undefined) && z?.zone === undefined, 'parseIpv6WithZone disagrees with parseIpv6 without a zone');
    else if (z !== undefined) check(z.zone !== undefined && z.zone.length > 0 && parseIpv6(s.slice(0, s.indexOf('%'))) !== undefined, 'a zone id accepted with a bad address or an empty zone');
    const c = parseIpv6Cidr(s);
    if (c !== undefined) {
      check(c.prefixLen >= 0 && c.prefixLen <= 128, `prefix length ${c.prefixLen}`);
      check(ipv6CidrContains(c, c.address) && ipv6CidrContains(c, ipv6NetworkOf(c)), 'a prefix does not contain its own address');
    }
    return `${a !== undefined ? 'a' : ''}${z?.zone !== undefined ? 'z' : ''}${c !== undefined ? 'c' : ''}`;
  },
};

/** One extension header as raw bytes, naming `next`: options headers with random TLVs, routing, fragment. */
const extArb = fc.oneof(
  fc.record({ type: fc.constantFrom(0, 60), tlvs: fc.array(fc.oneof(fc.constant([0]), fc.nat(5).map((n) => [1, n, ...new Array<number>(n).fill(0)]), fc.tuple(u8, fc.nat(6)).map(([t, n]) => [t, n, ...new Array<number>(n).fill(7)])), { maxLength: 4 }) }).map(({ type, tlvs }) => {
    const body = [0, 0, ...tlvs.flat()];
    while (body.length % 8 !== 0) body.push(0);
    body[1] = body.length / 8 - 1;
    return { type, bytes: body };
  }),
  fc.record({ rtype: fc.constantFrom(0, 2, 4, 200), left: fc.constantFrom(0, 0, 1, 5) }).map(({ rtype, left }) => ({ type: 43, bytes: [0, 0, rtype, left, 0, 0, 0, 0] })),
  fc.record({ off: fc.constantFrom(0, 0, 8, 1232, 65528), more: fc.boolean(), ident: fc.nat() }).map(({ off, more, ident }) => {
    const b = new Uint8Array(8);
    emitFragmentHeader({ nextHeader: 0, offset: off, more, ident }, b, 0);
    return { type: 44, bytes: [...b] };
  }),
);

function ipv6Bytes(chain: { type: number; bytes: number[] }[], upper: number, payload: Uint8Array, dst: Uint8Array, cut: number | undefined, lenDelta: number): Uint8Array {
  const extLen = chain.reduce((n, h) => n + h.bytes.length, 0);
  const b = new Uint8Array(IPV6_HEADER_LEN + extLen + payload.length);
  emitIpv6Header({ src: SRC, dst, nextHeader: chain[0]?.type ?? upper, hopLimit: 64, trafficClass: 0, flowLabel: 0, payloadLen: extLen + payload.length }, b);
  let o = IPV6_HEADER_LEN;
  chain.forEach((h, i) => {
    b.set(h.bytes, o);
    b[o] = chain[i + 1]?.type ?? upper;
    o += h.bytes.length;
  });
  b.set(payload, o);
  const len = Math.max(0, Math.min(0xffff, extLen + payload.length + lenDelta));
  b[4] = len >>> 8;
  b[5] = len & 0xff;
  return cut === undefined ? b : b.subarray(0, cut);
}

function checkChain(r: ChainResult, len: number, b: Uint8Array): string {
  switch (r.kind) {
    case 'upper':
      check(r.offset >= IPV6_HEADER_LEN && r.offset <= len, `upper offset ${r.offset} outside [40, ${len}]`);
      check(r.protocolFieldOffset < r.offset && b[r.protocolFieldOffset] === r.protocol, 'protocolFieldOffset does not name the protocol');
      check(![0, 43, 44, 60].includes(r.protocol), `stopped at extension header ${r.protocol}`);
      return `u${r.protocol === 6 || r.protocol === 17 || r.protocol === 58 ? r.protocol : 'x'}${r.atomicFragment ? 'a' : ''}`;
    case 'fragment':
      check(r.fragment.headerOffset + 8 <= len, 'fragment header past the packet');
      check(b[r.fragment.nextHeaderFieldOffset] === NextHeader.Fragment, 'nextHeaderFieldOffset does not hold 44');
      check(r.fragment.offset % 8 === 0 && !(r.fragment.offset === 0 && !r.fragment.more), 'an atomic fragment reported as a fragment');
      return r.fragment.offset === 0 ? 'f0' : 'fn';
    case 'param-problem':
      check(r.code >= 0 && r.code <= 3 && r.pointer >= 0 && r.pointer < len, `parameter problem code ${r.code} pointer ${r.pointer} for ${len} bytes`);
      return `p${r.code}`;
    default:
      return `d-${r.reason}`;
  }
}

export const ipv6Target: FuzzTarget = {
  name: 'ipv6',
  description: 'Ipv6Packet.check/checked, parse/emit round trip, walkExtensionHeaders: in-bounds offsets and pointers, deterministic, position independent, input untouched',
  format: 'bytes',
  maxLen: 600,
  seeds: () => [
    ...capturedIpv6(),
    ipv6Bytes([], 58, Uint8Array.of(128, 0, 0, 0, 0, 1, 0, 1), DST, undefined, 0),
    ipv6Bytes([{ type: 0, bytes: [0, 0, 5, 2, 0, 0, 1, 0] }, { type: 60, bytes: [0, 0, 1, 4, 0, 0, 0, 0] }], 17, new Uint8Array(8), DST, undefined, 0),
    ipv6Bytes([{ type: 44, bytes: [0, 0, 0, 1, 0, 0, 0, 9] }], 6, new Uint8Array(24), DST, undefined, 0),
  ],
  generator: () =>
    fc
      .record({
        chain: fc.array(extArb, { maxLength: 5 }),
        upper: fc.constantFrom(6, 17, 58, 59, 0, 44, 60, 50, 200),
        payload: fc.uint8Array({ maxLength: 40 }),
        multicast: fc.boolean(),
        cut: fc.option(fc.nat(120), { nil: undefined }),
        lenDelta: fc.constantFrom(0, 0, 0, -1, -8, 1, 8),
      })
      .map(({ chain, upper, payload, multicast, cut, lenDelta }) => ipv6Bytes(chain, upper, payload, multicast ? parseIpv6('ff02::1')! : DST, cut, lenDelta)),
  run(input) {
    const c = Ipv6Packet.check(input);
    const p = Ipv6Packet.checked(input);
    check((c === 'ok') === (p !== undefined), `check says ${c} but checked ${p ? 'accepted' : 'refused'}`);
    if (p === undefined) return c;
    const len = p.buffer.length;
    check(len === IPV6_HEADER_LEN + p.payloadLen && len <= input.length, 'length bounds');
    const r = parseIpv6Header(p);
    const out = new Uint8Array(len);
    emitIpv6Header(r, out);
    out.set(p.payload, IPV6_HEADER_LEN);
    checkSame(parseIpv6Header(Ipv6Packet.checked(out)!), r, 'parse(emit(parse(x)))');
    check(out.every((v, i) => v === p.buffer[i]), 'emit(parse(x)) is not x byte for byte');
    const before = p.buffer.slice();
    const w = walkExtensionHeaders(p);
    check(p.buffer.every((v, i) => v === before[i]), 'the walker modified its input');
    checkSame(walkExtensionHeaders(p), w, 'a second walk');
    // The same bytes at another offset of another buffer walk the same.
    const moved = new Uint8Array(len + 3);
    moved.set(p.buffer, 3);
    checkSame(walkExtensionHeaders(Ipv6Packet.checked(moved.subarray(3))!), w, 'the walk at another offset');
    mayAnswerWithError(p, 4, 2, false);
    return checkChain(w, len, p.buffer);
  },
};

export const icmpv6Target: FuzzTarget = {
  name: 'icmpv6',
  description: 'Icmpv6Packet / parseIcmpv6 / emitIcmpv6 and parseNdp / validateNdp / emitNdp: checksum vs the reference sum, parse(emit(parse(x))) = parse(x), lengths agree',
  format: 'bytes',
  maxLen: 300,
  seeds: () =>
    [
      ...capturedIcmpv6().map((b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('')),
      '8000000000010001', '0104000000000000600000000000', '02000000000005dc', '0300000000000000', '040200000000002a',
      '8700000000000000fe8000000000000000000000000000020101001122334455',
      '88000000e0000000fe8000000000000000000000000000020201001122334455',
      '8600000040c0070800007530000003e8030440c000278d0000093a800000000020010db80000000100000000000000000501000000000' + '5dc',
      '8500000000000000', '8900000000000000fe80000000000000000000000000000920010db80000000000000000000000050401000000000000',
    ].map((h) => Uint8Array.from(h.match(/../g)!.map((x) => parseInt(x, 16)))),
  generator: () =>
    fc
      .record({
        type: fc.oneof(fc.constantFrom(1, 2, 3, 4, 128, 129, 133, 134, 135, 136, 137), u8),
        code: fc.constantFrom(0, 0, 0, 1, 4),
        body: fc.uint8Array({ maxLength: 64 }),
        opts: fc.array(fc.tuple(fc.constantFrom(1, 2, 3, 4, 5, 14), fc.constantFrom(0, 1, 1, 2, 4, 9)), { maxLength: 3 }),
      })
      .map(({ type, code, body, opts }) => {
        const fixed = type === 134 ? 16 : type === 135 || type === 136 ? 24 : type === 137 ? 40 : 8;
        const parts = [type, code, 0, 0, ...new Array<number>(fixed - 4).fill(0)];
        for (const [t, l] of opts) parts.push(t, l, ...new Array<number>(Math.max(0, l * 8 - 2)).fill(0x11));
        parts.push(...body.subarray(0, type >= 133 && type <= 137 ? 0 : body.length));
        const b = Uint8Array.from(parts);
        return b;
      }),
  run(input) {
    const p = Icmpv6Packet.checked(input);
    if (p === undefined) {
      check(input.length < 8, 'refused an ICMPv6 message of 8 bytes or more');
      return 'none';
    }
    const ref = refSum(input, 0, input.length, ipv6PseudoHeaderSum(SRC, DST, input.length, 58)) === 0xffff;
    check(p.verifyChecksum(SRC, DST) === ref, 'verifyChecksum disagrees with the reference sum');
    const r = parseIcmpv6(p);
    const len = icmpv6BufferLen(r);
    check(len === input.length, `icmpv6BufferLen ${len} for a ${input.length}-byte message`);
    const out = new Uint8Array(len);
    check(emitIcmpv6(r, out, 0, SRC, DST) === len, 'emitIcmpv6 length');
    const q = Icmpv6Packet.checked(out)!;
    check(q.verifyChecksum(SRC, DST), 'the re-emitted checksum is wrong');
    checkSame(parseIcmpv6(q), r, 'parse(emit(parse(x)))');
    if (!isNdpType(p.type)) return r.kind;
    const n = parseNdp(p);
    if (n.kind === 'invalid') return `ndp-${n.reason}`;
    check(ndpBufferLen(n) === input.length, `ndpBufferLen ${ndpBufferLen(n)} for a ${input.length}-byte message`);
    const nb = new Uint8Array(input.length);
    check(emitNdp(n, nb, 0, SRC, DST) === input.length, 'emitNdp length');
    check(Icmpv6Packet.checked(nb)!.verifyChecksum(SRC, DST), 'the re-emitted NDP checksum is wrong');
    checkSame(parseNdp(Icmpv6Packet.checked(nb)!), n, 'NDP parse(emit(parse(x)))');
    const v = validateNdp(n, { src: SRC, dst: DST, hopLimit: 255, fragmented: false });
    check(validateNdp(n, { src: SRC, dst: DST, hopLimit: 64, fragmented: false }) === 'hop-limit', 'hop limit 64 accepted');
    return `${n.kind}-${v ?? 'ok'}-${n.options.length}`;
  },
};

const R_OPTS = { maxBytes: 16 * 1024, maxDatagrams: 8, maxFragments: 16, timeoutMs: 1000 };
const DELAYS = [0, 0, 0, 1, 10, 100, 500, 1001];

/**
 * The IPv6 reassembler fed a sequence of packets (records; tag & 7 picks a clock step), each walked first.
 * Oracles: memory and datagram counts within their caps after every fragment; a completed packet is well formed
 * (checked, payload length right, at most 40 + 65535 bytes) and keeps the completing fragment's source and
 * destination; parameter-problem pointers fall inside the fragment; after the time-out everything is released.
 */
export const ipv6ReassemblyTarget: FuzzTarget = {
  name: 'ipv6-reassembly',
  description: 'Ipv6Reassembler: caps, well-formed output, RFC 8200 pointers in bounds, memory accounting returns to 0',
  format: 'records',
  maxLen: 1500,
  maxRecords: 48,
  seeds: () => {
    const pkt = new Uint8Array(3000);
    emitIpv6Header({ src: SRC, dst: DST, nextHeader: 17, hopLimit: 64, trafficClass: 0, flowLabel: 0, payloadLen: 2960 }, pkt);
    const frags = fragmentIpv6(pkt, 40, 6, 1280, 7);
    const linux = capturedIpv6().filter((b) => b[6] === NextHeader.Fragment);
    return [
      encodeRecords(frags.map((data) => ({ tag: 0, data }))),
      encodeRecords([...frags].reverse().map((data) => ({ tag: 3, data }))),
      encodeRecords(linux.map((data) => ({ tag: 0, data }))),
    ];
  },
  generator: () =>
    fc
      .record({
        datagrams: fc.array(fc.record({ ident: fc.integer({ min: 0, max: 3 }), size: fc.integer({ min: 1300, max: 5000 }), mtu: fc.integer({ min: 1280, max: 1500 }), fill: u8 }), { minLength: 1, maxLength: 3 }),
        order: fc.array(fc.nat(), { maxLength: 32 }),
        dups: fc.array(fc.nat(), { maxLength: 4 }),
        corrupt: fc.option(fc.tuple(fc.nat(), fc.nat(47), u8), { nil: undefined }),
        delays: fc.array(fc.integer({ min: 0, max: 7 }), { maxLength: 32 }),
      })
      .map(({ datagrams, order, dups, corrupt, delays }) => {
        const frags: Uint8Array[] = [];
        for (const d of datagrams) {
          const pkt = new Uint8Array(d.size).fill(d.fill);
          emitIpv6Header({ src: SRC, dst: DST, nextHeader: 17, hopLimit: 64, trafficClass: 0, flowLabel: 0, payloadLen: d.size - 40 }, pkt);
          frags.push(...fragmentIpv6(pkt, 40, 6, d.mtu, d.ident));
        }
        for (let i = frags.length - 1; i > 0; i--) {
          const j = (order[i % Math.max(order.length, 1)] ?? 0) % (i + 1);
          [frags[i], frags[j]] = [frags[j]!, frags[i]!];
        }
        for (const d of dups) frags.push(frags[d % frags.length]!);
        if (corrupt !== undefined) {
          const [i, at, v] = corrupt;
          const f = frags[i % frags.length]!.slice();
          f[at] = v;
          frags[i % frags.length] = f;
        }
        return encodeRecords(frags.map((data, i) => ({ tag: delays[i] ?? 0, data })));
      }),
  run(input) {
    const r = new Ipv6Reassembler(R_OPTS);
    let now = 1000;
    let done = 0;
    let quoted = 0;
    for (const rec of decodeRecords(input)) {
      now += DELAYS[rec.tag & 7]!;
      r.poll(now, (f) => {
        quoted++;
        check(Ipv6Packet.checked(f) !== undefined, 'the timed-out first fragment is not a packet');
      });
      const p = Ipv6Packet.checked(rec.data);
      if (p === undefined) continue;
      const w = walkExtensionHeaders(p);
      if (w.kind !== 'fragment') continue;
      const res = r.input(now, p, w.fragment);
      check(r.memory >= 0 && r.memory <= R_OPTS.maxBytes, `reassembly memory ${r.memory} outside [0, ${R_OPTS.maxBytes}]`);
      check(r.inProgress <= R_OPTS.maxDatagrams, `${r.inProgress} datagrams in progress`);
      const at = r.pollAt();
      check(at === undefined || Number.isFinite(at), `pollAt ${at}`);
      if (res.kind === 'param-problem') check(res.pointer < p.buffer.length, `pointer ${res.pointer} past the fragment`);
      if (res.kind === 'done') {
        done++;
        const q = Ipv6Packet.checked(res.packet);
        check(q !== undefined && q.buffer.length === res.packet.length, 'reassembled packet fails check or has a wrong payload length');
        check(res.packet.length <= 40 + 65535, 'reassembled packet too long');
        check(ipv6Equals(q.src, p.src) && ipv6Equals(q.dst, p.dst), 'reassembled header is not of this datagram');
        check(read16(res.packet, 4) === res.packet.length - 40, 'payload length');
      }
    }
    r.poll(now + R_OPTS.timeoutMs + 1);
    check(r.inProgress === 0 && r.memory === 0, `after the time-out: ${r.inProgress} datagrams, ${r.memory} bytes still charged`);
    return `d${Math.min(done, 3)}q${Math.min(quoted, 1)}s${Object.entries(r.stats).filter(([, v]) => v > 0).map(([k]) => k.slice(0, 2)).join('')}`;
  },
};
