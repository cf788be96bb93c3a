/**
 * Targets for each wire codec: `check`/`checked`/`parse` never throw on any bytes, what `check` says agrees with
 * what `checked` returns, views stay inside the buffer, and for everything that parses, parse(emit(parse(x)))
 * equals parse(x) (modulo what the codec documents it does not re-emit: IPv4 options and the reserved flag, the
 * Ethernet DEI bit, unknown TCP options, SACK blocks that do not fit).
 */
import fc from 'fast-check';
import { EthernetFrame, emitEthernet, ethernetHeaderLen, parseEthernet } from '../../protocols/ethernet/wire.js';
import { ArpPacket, emitArp, parseArp, ARP_PACKET_LEN } from '../../protocols/arp/wire.js';
import { Ipv4Packet, emitIpv4Header, parseIpv4Header, IPV4_HEADER_LEN } from '../../protocols/ipv4/wire.js';
import { IcmpPacket, emitIcmp, icmpBufferLen, parseIcmp } from '../../protocols/icmp/wire.js';
import { UdpPacket, emitUdp, parseUdp, udpBufferLen } from '../../protocols/udp/wire.js';
import {
  TcpPacket,
  emitTcp,
  emptyTcpFields,
  fillTcpChecksum,
  parseTcp,
  parseTcpInto,
  tcpHeaderLen,
  verifyTcpChecksum,
  type TcpFields,
} from '../../protocols/tcp/wire.js';
import { onesSum, checksum, updateChecksum16 } from '../../protocols/util/checksum.js';
import { read16 } from '../../protocols/util/bytes.js';
import { fixtureArp, fixtureFrames, fixtureIpv4, fixtureL4 } from '../lib/corpus.js';
import { arpArb, icmpArb, ipBytes, ipGenArb, payloadArb, tcpBytes, tcpGenArb, udpArb, u16, u32 } from '../lib/gen.js';
import { refSum } from '../lib/packets.js';
import { check, checkSame, type FuzzTarget } from '../lib/target.js';

const SRC = 0x0a000002;
const DST = 0x0a000001;

function inside(view: Uint8Array, buf: Uint8Array, what: string): void {
  check(view.buffer === buf.buffer, `${what} is not a view of the input`);
  check(view.byteOffset >= buf.byteOffset && view.byteOffset + view.length <= buf.byteOffset + buf.length, `${what} reaches outside the input`);
}

export const ethernetTarget: FuzzTarget = {
  name: 'ethernet',
  description: 'EthernetFrame.checked / parseEthernet / emitEthernet round trip (802.1Q tag included)',
  format: 'bytes',
  maxLen: 1600,
  seeds: () => fixtureFrames().map((f) => f.frame),
  generator: () =>
    fc.record({ dst: fc.uint8Array({ minLength: 6, maxLength: 6 }), src: fc.uint8Array({ minLength: 6, maxLength: 6 }), tagged: fc.boolean(), tag: u16, type: fc.oneof(fc.constantFrom(0x0800, 0x0806, 0x8100, 0x86dd, 0x05dc), u16), payload: payloadArb(64), cut: fc.option(fc.nat(24), { nil: undefined }) }).map(
      ({ dst, src, tagged, tag, type, payload, cut }) => {
        const hl = tagged ? 18 : 14;
        const b = new Uint8Array(hl + payload.length);
        b.set(dst, 0);
        b.set(src, 6);
        if (tagged) {
          b[12] = 0x81;
          b[14] = tag >>> 8;
          b[15] = tag & 0xff;
        }
        b[hl - 2] = type >>> 8;
        b[hl - 1] = type & 0xff;
        b.set(payload, hl);
        return cut === undefined ? b : b.subarray(0, cut);
      },
    ),
  run(input) {
    const f = EthernetFrame.checked(input);
    if (f === undefined) {
      check(input.length < 18, 'checked refused a frame of 18 bytes or more');
      return 'none';
    }
    const r = parseEthernet(f);
    inside(f.payload, input, 'payload');
    check(f.headerLength + f.payload.length === input.length, 'header + payload != frame');
    check(r.vlan === undefined || (r.vlan >= 0 && r.vlan <= 0xfff), 'vlan out of range');
    const out = new Uint8Array(ethernetHeaderLen(r) + f.payload.length);
    const hl = emitEthernet(r, out, 0);
    check(hl === ethernetHeaderLen(r), 'emitEthernet length disagrees with ethernetHeaderLen');
    out.set(f.payload, hl);
    const g = EthernetFrame.checked(out);
    check(g !== undefined, 'the re-emitted frame does not parse');
    checkSame(parseEthernet(g), r, 'parse(emit(parse(x)))');
    checkSame(g.payload, f.payload, 'payload after re-emit');
    return r.vlan === undefined ? `t${r.ethertype === 0x800 ? 1 : 0}` : 'v';
  },
};

export const arpTarget: FuzzTarget = {
  name: 'arp',
  description: 'ArpPacket.check/checked / parseArp / emitArp: re-emits the first 28 bytes byte for byte',
  format: 'bytes',
  maxLen: 64,
  seeds: () => fixtureArp(),
  generator: () => arpArb(u32, u32),
  run(input) {
    const c = ArpPacket.check(input);
    const p = ArpPacket.checked(input);
    check((c === 'ok') === (p !== undefined), `check says ${c} but checked ${p ? 'accepted' : 'refused'}`);
    if (p === undefined) return c;
    check(input.length >= ARP_PACKET_LEN, 'accepted a short ARP packet');
    const r = parseArp(p);
    const out = new Uint8Array(ARP_PACKET_LEN);
    check(emitArp(r, out) === ARP_PACKET_LEN, 'emitArp length');
    checkSame(out, input.subarray(0, ARP_PACKET_LEN), 'emit(parse(x)) vs x');
    checkSame(parseArp(ArpPacket.checked(out)!), r, 'parse(emit(parse(x)))');
    return `ok${r.operation === 1 || r.operation === 2 ? r.operation : 0}`;
  },
};

export const ipv4Target: FuzzTarget = {
  name: 'ipv4',
  description: 'Ipv4Packet.check/checked/unchecked, verifyChecksum vs a reference sum, parse/emit round trip',
  format: 'bytes',
  maxLen: 1600,
  seeds: () => fixtureIpv4(),
  generator: () =>
    fc.tuple(ipGenArb(fc.tuple(u32, u32), fc.oneof(fc.constantFrom(1, 6, 17), fc.integer({ min: 0, max: 255 }))), payloadArb(300)).map(([g, l4]) => ipBytes(g, l4)),
  run(input) {
    const c = Ipv4Packet.check(input);
    const p = Ipv4Packet.checked(input);
    check((c === 'ok') === (p !== undefined), `check says ${c} but checked ${p ? 'accepted' : 'refused'}`);
    if (p === undefined) return c;
    const hl = p.headerLen;
    check(hl >= IPV4_HEADER_LEN && hl <= 60 && hl <= p.totalLen && p.totalLen <= input.length, 'header/total length bounds');
    check(p.buffer.length === p.totalLen, 'view not trimmed to the total length');
    inside(p.payload, input, 'payload');
    inside(p.options, input, 'options');
    check(p.options.length === hl - 20 && p.payload.length === p.totalLen - hl, 'options/payload lengths');
    check(p.fragmentOffset % 8 === 0 && p.fragmentOffset <= 0xfff8, 'fragment offset');
    check(p.verifyChecksum() === (refSum(input, 0, hl) === 0xffff), 'verifyChecksum disagrees with the reference sum');
    const u = Ipv4Packet.unchecked(input);
    check(u.totalLen === p.totalLen && u.headerLen === hl, 'unchecked disagrees with checked');
    const r = parseIpv4Header(p);
    const out = new Uint8Array(IPV4_HEADER_LEN + r.payloadLen);
    check(emitIpv4Header(r, out, 0, true) === IPV4_HEADER_LEN, 'emitIpv4Header length');
    out.set(p.payload, IPV4_HEADER_LEN);
    const q = Ipv4Packet.checked(out);
    check(q !== undefined, 'the re-emitted packet does not check');
    check(q.verifyChecksum(), 'the re-emitted header checksum is wrong');
    checkSame(parseIpv4Header(q), r, 'parse(emit(parse(x)))');
    checkSame(q.payload, p.payload, 'payload after re-emit');
    return `ok${p.isFragment ? 'f' : ''}${hl > 20 ? 'o' : ''}${[1, 6, 17].includes(p.protocol) ? p.protocol : 'x'}`;
  },
};

export const icmpTarget: FuzzTarget = {
  name: 'icmp',
  description: 'IcmpPacket.checked / parseIcmp / emitIcmp round trip; verifyChecksum vs the reference sum',
  format: 'bytes',
  maxLen: 1500,
  seeds: () => fixtureL4(1).map((x) => x.bytes),
  generator: () => icmpArb(fc.tuple(ipGenArb(fc.tuple(u32, u32), fc.constantFrom(1, 6, 17)), fc.uint8Array({ maxLength: 16 })).map(([g, l4]) => ipBytes(g, l4))),
  run(input) {
    const p = IcmpPacket.checked(input);
    if (p === undefined) {
      check(input.length < 8, 'refused an ICMP message of 8 bytes or more');
      return 'none';
    }
    check(p.verifyChecksum() === (refSum(input, 0, input.length) === 0xffff), 'verifyChecksum disagrees with the reference sum');
    const r = parseIcmp(p);
    const len = icmpBufferLen(r);
    check(len === input.length, `icmpBufferLen ${len} for a ${input.length}-byte message`);
    const out = new Uint8Array(len);
    check(emitIcmp(r, out, 0, true) === len, 'emitIcmp length');
    const q = IcmpPacket.checked(out)!;
    check(q.verifyChecksum(), 'the re-emitted checksum is wrong');
    checkSame(parseIcmp(q), r, 'parse(emit(parse(x)))');
    return r.kind;
  },
};

export const udpTarget: FuzzTarget = {
  name: 'udp',
  description: 'UdpPacket.check/checked / parseUdp / emitUdp round trip; verifyChecksum vs the reference sum',
  format: 'bytes',
  maxLen: 1500,
  seeds: () => fixtureL4(17).map((x) => x.bytes),
  generator: () => udpArb(fc.tuple(u16, u16), SRC, DST),
  run(input) {
    const c = UdpPacket.check(input);
    const p = UdpPacket.checked(input);
    check((c === 'ok') === (p !== undefined), `check says ${c} but checked ${p ? 'accepted' : 'refused'}`);
    if (p === undefined) return c;
    check(p.buffer.length === p.length && p.length >= 8 && p.length <= input.length, 'length bounds');
    inside(p.payload, input, 'payload');
    const ref = p.checksumField === 0 || refSum(p.buffer, 0, p.length, refPseudoUdp(p.length)) === 0xffff;
    check(p.verifyChecksum(SRC, DST) === ref, 'verifyChecksum disagrees with the reference sum');
    const r = parseUdp(p);
    const out = new Uint8Array(udpBufferLen(r));
    check(emitUdp(r, out, 0, SRC, DST, true) === out.length, 'emitUdp length');
    const q = UdpPacket.checked(out);
    check(q !== undefined && q.verifyChecksum(SRC, DST) && q.checksumField !== 0, 'the re-emitted datagram does not verify');
    checkSame(parseUdp(q), r, 'parse(emit(parse(x)))');
    return `ok${ref ? 1 : 0}`;
  },
};

function refPseudoUdp(len: number): number {
  return refSum(Uint8Array.of(SRC >>> 24, SRC >>> 16, SRC >>> 8, SRC, DST >>> 24, DST >>> 16, DST >>> 8, DST, 0, 17, len >>> 8, len), 0, 12);
}

/** A TcpFields object dirtied by a previous parse, to catch state that parseTcpInto fails to reset. */
const dirty: TcpFields = emptyTcpFields();

export const tcpTarget: FuzzTarget = {
  name: 'tcp',
  description: 'TcpPacket.check/checked / parseTcp / parseTcpInto (reused object) / emitTcp round trip, checksums',
  format: 'bytes',
  maxLen: 1500,
  seeds: () => fixtureL4(6).map((x) => x.bytes),
  generator: () => tcpGenArb().map((g) => tcpBytes(g, SRC, DST)),
  run(input) {
    const c = TcpPacket.check(input);
    const p = TcpPacket.checked(input);
    check((c === 'ok') === (p !== undefined), `check says ${c} but checked ${p ? 'accepted' : 'refused'}`);
    if (p === undefined) return c;
    check(p.headerLen >= 20 && p.headerLen <= 60 && p.headerLen <= input.length, 'header length bounds');
    inside(p.payload, input, 'payload');
    inside(p.options, input, 'options');
    check(verifyTcpChecksum(input, 0, input.length, SRC, DST) === (refSum(input, 0, input.length, refPseudoTcp(input.length)) === 0xffff), 'verifyTcpChecksum disagrees with the reference sum');
    const r = parseTcp(p);
    const okInto = parseTcpInto(input, dirty);
    check(okInto === (r !== undefined), 'parseTcpInto and parseTcp disagree on validity');
    if (r === undefined) {
      // Leave `dirty` holding junk for the next input.
      return 'badopt';
    }
    // parseTcpInto holds sequence numbers and timestamps signed (the core's form), parseTcp the wire's unsigned values.
    const u = (x: number): number => x >>> 0;
    checkSame(
      {
        ...dirty,
        seq: u(dirty.seq),
        ack: u(dirty.ack),
        sackBlocks: dirty.sackBlocks.map(u),
        tsVal: dirty.tsVal === undefined ? undefined : u(dirty.tsVal),
        tsEcr: dirty.tsEcr === undefined ? undefined : u(dirty.tsEcr),
      },
      { ...r, sackBlocks: [...r.sackBlocks] },
      'parseTcpInto into a reused object vs a fresh parse',
    );
    check(dirty.seq === (dirty.seq | 0) && dirty.ack === (dirty.ack | 0), 'parseTcpInto gives signed 32-bit sequence numbers');
    check(r.payloadLen === p.payload.length, 'payloadLen');
    check(r.wscale === undefined || r.wscale <= 14, 'window scale above 14');
    check(r.sackBlocks.length % 2 === 0 && r.sackBlocks.length <= 8, 'SACK block count');
    const hl = tcpHeaderLen(r);
    check(hl >= 20 && hl <= 60 && hl % 4 === 0, `tcpHeaderLen ${hl}`);
    const out = new Uint8Array(hl + r.payloadLen);
    check(emitTcp(r, out, 0) === hl, 'emitTcp length disagrees with tcpHeaderLen');
    out.set(p.payload, hl);
    fillTcpChecksum(out, 0, out.length, SRC, DST);
    check(refSum(out, 0, out.length, refPseudoTcp(out.length)) === 0xffff, 'fillTcpChecksum wrote a wrong checksum');
    const q = parseTcp(TcpPacket.checked(out)!);
    check(q !== undefined, 'the re-emitted options do not parse');
    // emitTcp keeps the SACK blocks that fit (RFC 2018 section 3): a prefix of them.
    const kept = q.sackBlocks.length;
    checkSame({ ...q, sackBlocks: [] }, { ...r, sackBlocks: [] }, 'parse(emit(parse(x)))');
    checkSame(q.sackBlocks, r.sackBlocks.slice(0, kept), 'SACK blocks after re-emit');
    const base = (r.mss !== undefined ? 4 : 0) + (r.tsVal !== undefined ? 12 : r.sackPermitted ? 4 : 0) + (r.wscale !== undefined ? 4 : 0);
    const fit = Math.max(0, Math.min(r.sackBlocks.length / 2, 4, (36 - base) >> 3));
    check(kept === 2 * fit, `emitTcp kept ${kept / 2} SACK blocks where ${fit} fit`);
    dirty.sackBlocks.push(1, 2); // dirty the reused object for the next input
    dirty.mss = 1;
    dirty.tsVal = 7;
    return `ok${r.flags & 0x17}${r.mss !== undefined ? 'm' : ''}${r.sackBlocks.length}${r.tsVal !== undefined ? 't' : ''}`;
  },
};

function refPseudoTcp(len: number): number {
  return refSum(Uint8Array.of(SRC >>> 24, SRC >>> 16, SRC >>> 8, SRC, DST >>> 24, DST >>> 16, DST >>> 8, DST, 0, 6, len >>> 8, len), 0, 12);
}

/**
 * protocols/util/checksum.ts against the reference sum at every alignment and length (it reads 32-bit words from
 * aligned addresses, so the byte offset matters), and RFC 1624 incremental updates against recomputation.
 * Input: [offset byte][initial u16][word index u16][new word u16][data...].
 */
export const checksumTarget: FuzzTarget = {
  name: 'checksum',
  description: 'onesSum/checksum (aligned 32-bit reads) vs a naive RFC 1071 sum; updateChecksum16 vs recomputation',
  format: 'bytes',
  maxLen: 2048,
  seeds: () => fixtureFrames().map((f) => f.frame),
  generator: () => fc.uint8Array({ minLength: 7, maxLength: 1600 }),
  run(input) {
    if (input.length < 7) return 'short';
    const shift = input[0]! & 7;
    const initial = read16(input, 1);
    // Copy to a buffer at a chosen misalignment so the word-reading path sees every byteOffset.
    const backing = new Uint8Array(input.length + 8);
    const data = backing.subarray(shift, shift + input.length - 7);
    data.set(input.subarray(7));
    const start = data.length > 0 ? input[3]! % (data.length + 1) : 0;
    const end = start + ((input[4]! << 8) | input[5]!) % (data.length - start + 1);
    const got = onesSum(data, start, end, initial);
    const want = refSum(data, start, end, initial);
    // 0 and 0xffff are both "zero" in ones' complement only when the data are all zero; demand the exact value.
    check(got === want, `onesSum(${start}, ${end}, ${initial}) at byteOffset ${data.byteOffset} = ${got}, reference ${want}`);
    check(checksum(data, start, end) === (~refSum(data, start, end) & 0xffff), 'checksum() disagrees with the reference');
    if (data.length >= 2) {
      const i = (input[6]! * 2) % (data.length - (data.length & 1) || 2);
      const hc = ~refSum(data, 0, data.length) & 0xffff;
      const oldWord = (data[i]! << 8) | (data[i + 1] ?? 0);
      const newWord = (initial ^ 0x5a5a) & 0xffff;
      const copy = data.slice();
      copy[i] = newWord >>> 8;
      if (i + 1 < copy.length) copy[i + 1] = newWord & 0xff;
      if (i + 1 < copy.length) {
        const inc = updateChecksum16(hc, oldWord, newWord);
        const full = ~refSum(copy, 0, copy.length) & 0xffff;
        // RFC 1624 section 3: eqn. 3 gives 0x0000 where recomputation gives 0xffff only when the covered data sum to
        // zero, i.e. are all zero bytes (never so for a real header: the version, protocol or length is in it).
        check(inc === full || (refSum(copy, 0, copy.length) === 0 && inc === 0 && full === 0xffff), `updateChecksum16 ${inc} vs recomputed ${full}`);
      }
    }
    return `a${data.byteOffset & 3}`;
  },
};
