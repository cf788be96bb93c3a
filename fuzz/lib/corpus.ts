/**
 * Seed inputs: the real kernel frames of test/fixtures/frames.json, sliced per layer (Ethernet frame, IPv4
 * packet, L4 message), so each parser's corpus starts from real traffic.
 */
import { readFileSync } from 'node:fs';
import { fromHex, read16 } from '../../protocols/util/bytes.js';
import { ipOffset } from './packets.js';

export interface Fixture {
  readonly name: string;
  readonly frame: Uint8Array;
}

let cache: Fixture[] | undefined;

export function fixtureFrames(): Fixture[] {
  if (cache === undefined) {
    const url = new URL('../../test/fixtures/frames.json', import.meta.url);
    const list = JSON.parse(readFileSync(url, 'utf8')) as { name: string; linktype: number; hex: string }[];
    cache = list.filter((f) => f.linktype === 1).map((f) => ({ name: f.name, frame: fromHex(f.hex) }));
  }
  return cache;
}

/** The IPv4 packets inside the fixture frames (VLAN tags skipped). */
export function fixtureIpv4(): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const f of fixtureFrames()) {
    const o = ipOffset(f.frame);
    if (o >= 0) out.push(f.frame.subarray(o));
  }
  return out;
}

/** ARP payloads (after the Ethernet header or VLAN tag). */
export function fixtureArp(): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const f of fixtureFrames()) {
    const b = f.frame;
    if (b.length < 14) continue;
    if (read16(b, 12) === 0x0806) out.push(b.subarray(14));
    else if (read16(b, 12) === 0x8100 && b.length >= 18 && read16(b, 16) === 0x0806) out.push(b.subarray(18));
  }
  return out;
}

/** L4 messages of one IP protocol (unfragmented packets only), with the packet's addresses. */
export function fixtureL4(proto: number): { src: number; dst: number; bytes: Uint8Array }[] {
  const out: { src: number; dst: number; bytes: Uint8Array }[] = [];
  for (const p of fixtureIpv4()) {
    if (p.length < 20 || p[9] !== proto || (read16(p, 6) & 0x3fff) !== 0) continue;
    const ihl = (p[0]! & 0x0f) * 4;
    const total = Math.min(read16(p, 2), p.length);
    const dv = new DataView(p.buffer, p.byteOffset, p.length);
    out.push({ src: dv.getUint32(12), dst: dv.getUint32(16), bytes: p.subarray(ihl, total) });
  }
  return out;
}
