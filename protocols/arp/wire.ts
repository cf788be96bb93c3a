/**
 * ARP for IPv4 over Ethernet (RFC 826). Only hardware type 1 (Ethernet, 6-byte addresses) with protocol type
 * 0x0800 (4-byte addresses) is accepted; anything else is reported as unsupported by `checked` returning undefined.
 * Addresses are returned as copies in the Repr (a Repr outlives the frame); IPv4 addresses as u32 numbers.
 */
import { read16, read32, write16, write32 } from '../util/bytes.js';
import { EtherType } from '../ethernet/wire.js';

export const ARP_PACKET_LEN = 28;

const HTYPE = 0;
const PTYPE = 2;
const HLEN = 4;
const PLEN = 5;
const OPER = 6;
const SHA = 8;
const SPA = 14;
const THA = 18;
const TPA = 24;

export const ArpOperation = { Request: 1, Reply: 2 } as const;

export interface ArpRepr {
  readonly operation: number;
  readonly senderHw: Uint8Array;
  readonly senderIp: number;
  readonly targetHw: Uint8Array;
  readonly targetIp: number;
}

export type ArpCheck = 'ok' | 'truncated' | 'unsupported';

export class ArpPacket {
  private constructor(readonly buffer: Uint8Array) {}

  static check(buf: Uint8Array): ArpCheck {
    if (buf.length < 8) return 'truncated';
    if (read16(buf, HTYPE) !== 1 || read16(buf, PTYPE) !== EtherType.IPv4 || buf[HLEN] !== 6 || buf[PLEN] !== 4) {
      return 'unsupported';
    }
    if (buf.length < ARP_PACKET_LEN) return 'truncated';
    return 'ok';
  }

  static checked(buf: Uint8Array): ArpPacket | undefined {
    return ArpPacket.check(buf) === 'ok' ? new ArpPacket(buf) : undefined;
  }

  get operation(): number {
    return read16(this.buffer, OPER);
  }
  get senderHw(): Uint8Array {
    return this.buffer.subarray(SHA, SHA + 6);
  }
  get senderIp(): number {
    return read32(this.buffer, SPA);
  }
  get targetHw(): Uint8Array {
    return this.buffer.subarray(THA, THA + 6);
  }
  get targetIp(): number {
    return read32(this.buffer, TPA);
  }
}

export function parseArp(p: ArpPacket): ArpRepr {
  return {
    operation: p.operation,
    senderHw: p.senderHw.slice(),
    senderIp: p.senderIp,
    targetHw: p.targetHw.slice(),
    targetIp: p.targetIp,
  };
}

export function arpBufferLen(): number {
  return ARP_PACKET_LEN;
}

export function emitArp(repr: ArpRepr, buf: Uint8Array, offset = 0): number {
  write16(buf, offset + HTYPE, 1);
  write16(buf, offset + PTYPE, EtherType.IPv4);
  buf[offset + HLEN] = 6;
  buf[offset + PLEN] = 4;
  write16(buf, offset + OPER, repr.operation);
  buf.set(repr.senderHw.subarray(0, 6), offset + SHA);
  write32(buf, offset + SPA, repr.senderIp);
  buf.set(repr.targetHw.subarray(0, 6), offset + THA);
  write32(buf, offset + TPA, repr.targetIp);
  return ARP_PACKET_LEN;
}
