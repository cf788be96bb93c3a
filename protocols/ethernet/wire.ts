/**
 * Ethernet II frames (IEEE 802.3 with an EtherType), with one 802.1Q tag recognised.
 *
 * `EthernetFrame.checked(buf)` returns undefined for a buffer too short for the header (or for a tagged header);
 * nothing here throws on wire input. The frame is a view: `payload` is a subarray of the caller's buffer.
 * 802.3 length frames (type field <= 1500) are reported with `ethertype` < 0x0600 and are not for us.
 */
import { read16, write16 } from '../util/bytes.js';

export const ETHERNET_HEADER_LEN = 14;
export const VLAN_TAG_LEN = 4;

export const EtherType = {
  IPv4: 0x0800,
  ARP: 0x0806,
  VLAN: 0x8100,
  IPv6: 0x86dd,
} as const;

const DST = 0;
const SRC = 6;
const TYPE = 12;

export type MacAddress = Uint8Array; // 6 bytes

export const BROADCAST_MAC: MacAddress = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
export const ZERO_MAC: MacAddress = new Uint8Array(6);

export interface EthernetRepr {
  readonly dst: MacAddress;
  readonly src: MacAddress;
  /** The EtherType of the payload (after any 802.1Q tag). */
  readonly ethertype: number;
  /** The 802.1Q VLAN id (12 bits), when the frame was tagged. */
  readonly vlan?: number | undefined;
  /** The 802.1Q priority code point (3 bits), when tagged. */
  readonly pcp?: number | undefined;
}

export class EthernetFrame {
  private constructor(readonly buffer: Uint8Array, private readonly headerLen: number) {}

  /** A view over `buf`, or undefined when it cannot hold an Ethernet header (tagged or not). */
  static checked(buf: Uint8Array): EthernetFrame | undefined {
    if (buf.length < ETHERNET_HEADER_LEN) return undefined;
    if (read16(buf, TYPE) === EtherType.VLAN) {
      if (buf.length < ETHERNET_HEADER_LEN + VLAN_TAG_LEN) return undefined;
      return new EthernetFrame(buf, ETHERNET_HEADER_LEN + VLAN_TAG_LEN);
    }
    return new EthernetFrame(buf, ETHERNET_HEADER_LEN);
  }

  get dst(): Uint8Array {
    return this.buffer.subarray(DST, DST + 6);
  }
  get src(): Uint8Array {
    return this.buffer.subarray(SRC, SRC + 6);
  }
  get tagged(): boolean {
    return this.headerLen !== ETHERNET_HEADER_LEN;
  }
  get ethertype(): number {
    return read16(this.buffer, this.headerLen - 2);
  }
  get vlan(): number | undefined {
    return this.tagged ? read16(this.buffer, 14) & 0x0fff : undefined;
  }
  get pcp(): number | undefined {
    return this.tagged ? this.buffer[14]! >>> 5 : undefined;
  }
  get headerLength(): number {
    return this.headerLen;
  }
  get payload(): Uint8Array {
    return this.buffer.subarray(this.headerLen);
  }
}

export function parseEthernet(frame: EthernetFrame): EthernetRepr {
  return {
    dst: frame.dst.slice(),
    src: frame.src.slice(),
    ethertype: frame.ethertype,
    vlan: frame.vlan,
    pcp: frame.pcp,
  };
}

export function ethernetHeaderLen(repr: Pick<EthernetRepr, 'vlan'>): number {
  return repr.vlan === undefined ? ETHERNET_HEADER_LEN : ETHERNET_HEADER_LEN + VLAN_TAG_LEN;
}

/** Write the header at buf[offset..]; returns the header length (where the payload starts). */
export function emitEthernet(repr: EthernetRepr, buf: Uint8Array, offset = 0): number {
  buf.set(repr.dst, offset + DST);
  buf.set(repr.src, offset + SRC);
  if (repr.vlan === undefined) {
    write16(buf, offset + TYPE, repr.ethertype);
    return ETHERNET_HEADER_LEN;
  }
  write16(buf, offset + TYPE, EtherType.VLAN);
  write16(buf, offset + 14, (((repr.pcp ?? 0) & 7) << 13) | (repr.vlan & 0x0fff));
  write16(buf, offset + 16, repr.ethertype);
  return ETHERNET_HEADER_LEN + VLAN_TAG_LEN;
}

/** Write an untagged header from raw parts without building a Repr (the transmit hot path). */
export function writeEthernetHeader(buf: Uint8Array, offset: number, dst: MacAddress, src: MacAddress, ethertype: number): void {
  buf.set(dst, offset + DST);
  buf.set(src, offset + SRC);
  write16(buf, offset + TYPE, ethertype);
}

export function isBroadcastMac(mac: Uint8Array): boolean {
  return (mac[0]! & mac[1]! & mac[2]! & mac[3]! & mac[4]! & mac[5]!) === 0xff;
}

/** Group (multicast or broadcast) addresses have the I/G bit set. */
export function isMulticastMac(mac: Uint8Array): boolean {
  return (mac[0]! & 1) === 1;
}

export function macEquals(a: Uint8Array, b: Uint8Array): boolean {
  return a[0] === b[0] && a[1] === b[1] && a[2] === b[2] && a[3] === b[3] && a[4] === b[4] && a[5] === b[5];
}

export function formatMac(mac: Uint8Array): string {
  const parts: string[] = [];
  for (let i = 0; i < 6; i++) parts.push((mac[i] ?? 0).toString(16).padStart(2, '0'));
  return parts.join(':');
}

/** Parse "aa:bb:cc:dd:ee:ff" (or with '-'); undefined when malformed. */
export function parseMac(text: string): MacAddress | undefined {
  const m = /^([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})$/i.exec(text);
  if (!m) return undefined;
  return new Uint8Array(m.slice(1).map((h) => parseInt(h, 16)));
}
