/**
 * Shared by test/wire/*.test.ts: fast-check arbitraries for every wire Repr, and `decodeFrame`, which parses a full
 * Ethernet frame through every layer we have a codec for (the way the stack does) and reports what each layer saw.
 */
import fc from 'fast-check';
import { read16 } from '../../protocols/util/bytes.js';
import { EtherType, EthernetFrame, parseEthernet, type EthernetRepr } from '../../protocols/ethernet/wire.js';
import { ArpPacket, parseArp, type ArpCheck, type ArpRepr } from '../../protocols/arp/wire.js';
import {
  IPV4_HEADER_LEN,
  IpProtocol,
  Ipv4Packet,
  parseIpv4Header,
  type Ipv4Check,
  type Ipv4Repr,
} from '../../protocols/ipv4/wire.js';
import { IcmpPacket, parseIcmp, type IcmpRepr } from '../../protocols/icmp/wire.js';
import { UdpPacket, parseUdp, type UdpCheck, type UdpRepr } from '../../protocols/udp/wire.js';

export const u8 = fc.integer({ min: 0, max: 0xff });
export const u16 = fc.integer({ min: 0, max: 0xffff });
export const u32 = fc.integer({ min: 0, max: 0xffffffff });
export const mac = fc.uint8Array({ minLength: 6, maxLength: 6 });
export const smallBytes = (max = 64): fc.Arbitrary<Uint8Array> => fc.uint8Array({ minLength: 0, maxLength: max, size: 'max' });

/** Untagged: any EtherType except 0x8100 (which the receiver reads as a tag). Tagged: any inner EtherType. */
export const ethernetRepr: fc.Arbitrary<EthernetRepr> = fc.oneof(
  fc.record({
    dst: mac,
    src: mac,
    ethertype: u16.filter((t) => t !== EtherType.VLAN),
    vlan: fc.constant(undefined),
    pcp: fc.constant(undefined),
  }),
  fc.record({
    dst: mac,
    src: mac,
    ethertype: u16,
    vlan: fc.integer({ min: 0, max: 0xfff }),
    pcp: fc.integer({ min: 0, max: 7 }),
  }),
);

export const arpRepr: fc.Arbitrary<ArpRepr> = fc.record({
  operation: fc.oneof(fc.constantFrom(1, 2), u16),
  senderHw: mac,
  senderIp: u32,
  targetHw: mac,
  targetIp: u32,
});

export const ipv4Repr: fc.Arbitrary<Ipv4Repr> = fc.record({
  src: u32,
  dst: u32,
  protocol: u8,
  ttl: u8,
  tos: u8,
  ident: u16,
  dontFragment: fc.boolean(),
  moreFragments: fc.boolean(),
  fragmentOffset: fc.integer({ min: 0, max: 0x1fff }).map((o) => o * 8),
  payloadLen: fc.oneof(fc.integer({ min: 0, max: 1500 }), fc.integer({ min: 0, max: 0xffff - IPV4_HEADER_LEN })),
});

const echo = fc.record({
  kind: fc.constantFrom('echo-request' as const, 'echo-reply' as const),
  ident: u16,
  seq: u16,
  data: smallBytes(120),
});
const destUnreachable = fc.integer({ min: 0, max: 255 }).chain((code) =>
  fc.record({
    kind: fc.constant('dest-unreachable' as const),
    code: fc.constant(code),
    nextHopMtu: code === 4 ? u16 : fc.constant(0),
    quoted: smallBytes(80),
  }),
);
const timeExceeded = fc.record({ kind: fc.constant('time-exceeded' as const), code: u8, quoted: smallBytes(80) });
/** 'other' never takes a type that parses as a known kind (3, 11, and 0/8 with code 0). */
const otherIcmp = fc
  .record({ kind: fc.constant('other' as const), type: u8, code: u8, rest: u32, data: smallBytes(64) })
  .filter((r) => r.type !== 3 && r.type !== 11 && !((r.type === 0 || r.type === 8) && r.code === 0));
export const icmpRepr = {
  echo,
  destUnreachable,
  timeExceeded,
  other: otherIcmp,
  any: fc.oneof(echo, destUnreachable, timeExceeded, otherIcmp) as fc.Arbitrary<IcmpRepr>,
};

export const udpRepr: fc.Arbitrary<UdpRepr> = fc.record({ srcPort: u16, dstPort: u16, payload: smallBytes(200) });

/** What a quoted datagram inside an ICMP error says: its IPv4 header and the first transport bytes. */
export interface QuotedDatagram {
  readonly ip: Ipv4Repr;
  readonly headerLen: number;
  readonly totalLen: number;
  /** The first 8 bytes after the quoted IP header (UDP header, or TCP ports and sequence number). */
  readonly transport: Uint8Array;
  readonly srcPort: number;
  readonly dstPort: number;
}

export interface Decoded {
  readonly eth?: EthernetRepr;
  readonly ethHeaderLen?: number;
  readonly ethPayloadLen?: number;
  readonly arpCheck?: ArpCheck;
  readonly arp?: ArpRepr;
  readonly ipCheck?: Ipv4Check;
  readonly ip?: Ipv4Repr;
  readonly ipHeaderLen?: number;
  readonly ipTotalLen?: number;
  readonly ipOptions?: Uint8Array;
  readonly ipChecksumField?: number;
  readonly ipChecksumOk?: boolean;
  readonly ipPayload?: Uint8Array;
  readonly icmp?: IcmpRepr;
  readonly icmpChecksumOk?: boolean;
  readonly quoted?: QuotedDatagram;
  readonly udpCheck?: UdpCheck;
  readonly udp?: UdpRepr;
  readonly udpLength?: number;
  readonly udpChecksumField?: number;
  readonly udpChecksumOk?: boolean;
}

/**
 * The quoted datagram of an ICMP error (RFC 792): an IPv4 header whose total length describes the original
 * datagram (so `Ipv4Packet.check` says 'truncated'), followed by at least 8 bytes. Read with the same guards the
 * stack uses; undefined when too short or not IPv4.
 */
export function parseQuoted(quoted: Uint8Array): QuotedDatagram | undefined {
  if (quoted.length < IPV4_HEADER_LEN + 8 || quoted[0]! >>> 4 !== 4) return undefined;
  const ihl = (quoted[0]! & 0x0f) * 4;
  if (ihl < IPV4_HEADER_LEN || quoted.length < ihl + 8) return undefined;
  const p = Ipv4Packet.unchecked(quoted);
  const transport = quoted.subarray(ihl, ihl + 8);
  return {
    ip: parseIpv4Header(p),
    headerLen: ihl,
    totalLen: p.totalLen,
    transport,
    srcPort: read16(transport, 0),
    dstPort: read16(transport, 2),
  };
}

/** Parse every layer with a codec. Never throws for any input (the property the robustness tests assert). */
export function decodeFrame(frame: Uint8Array): Decoded {
  const out: Record<string, unknown> = {};
  const eth = EthernetFrame.checked(frame);
  if (!eth) return out;
  out.eth = parseEthernet(eth);
  out.ethHeaderLen = eth.headerLength;
  out.ethPayloadLen = eth.payload.length;
  if (eth.ethertype === EtherType.ARP) {
    out.arpCheck = ArpPacket.check(eth.payload);
    const a = ArpPacket.checked(eth.payload);
    if (a) out.arp = parseArp(a);
    return out;
  }
  if (eth.ethertype !== EtherType.IPv4) return out;
  out.ipCheck = Ipv4Packet.check(eth.payload);
  const ip = Ipv4Packet.checked(eth.payload);
  if (!ip) return out;
  out.ip = parseIpv4Header(ip);
  out.ipHeaderLen = ip.headerLen;
  out.ipTotalLen = ip.totalLen;
  out.ipOptions = ip.options;
  out.ipChecksumField = ip.checksumField;
  out.ipChecksumOk = ip.verifyChecksum();
  out.ipPayload = ip.payload;
  // Transport headers are only in unfragmented datagrams or first fragments; only whole datagrams are parsed.
  if (ip.isFragment) return out;
  if (ip.protocol === IpProtocol.ICMP) {
    const icmp = IcmpPacket.checked(ip.payload);
    if (!icmp) return out;
    const r = parseIcmp(icmp);
    out.icmp = r;
    out.icmpChecksumOk = icmp.verifyChecksum();
    if (r.kind === 'dest-unreachable' || r.kind === 'time-exceeded') {
      const q = parseQuoted(r.quoted);
      if (q) out.quoted = q;
    }
  } else if (ip.protocol === IpProtocol.UDP) {
    out.udpCheck = UdpPacket.check(ip.payload);
    const udp = UdpPacket.checked(ip.payload);
    if (!udp) return out;
    out.udp = parseUdp(udp);
    out.udpLength = udp.length;
    out.udpChecksumField = udp.checksumField;
    out.udpChecksumOk = udp.verifyChecksum(ip.src, ip.dst);
  }
  return out;
}
