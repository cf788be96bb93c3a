/** UDP and TCP checksums over IPv6 (RFC 8200 8.1): protocols/ipv6/wire-l4.ts against a long-hand reference and a real frame. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { fromHex, read16 } from '../../protocols/util/bytes.js';
import { Ipv6Packet } from '../../protocols/ipv6/wire.js';
import { fillTcp6Checksum, fillUdp6Checksum, tcpMssForIpv6Mtu, verifyTcp6Checksum, verifyUdp6Checksum } from '../../protocols/ipv6/wire-l4.js';
import { UdpPacket, parseUdp } from '../../protocols/udp/wire.js';

const addr = fc.uint8Array({ minLength: 16, maxLength: 16 });

/** RFC 8200 8.1 written out: 40-byte pseudo-header (src, dst, 32-bit length, 3 zero bytes, next header), the segment with its checksum field zeroed. */
function reference(src: Uint8Array, dst: Uint8Array, proto: number, seg: Uint8Array, field: number): number {
  const all = new Uint8Array(40 + seg.length + (seg.length & 1));
  all.set(src, 0);
  all.set(dst, 16);
  all[34] = seg.length >>> 8;
  all[35] = seg.length & 0xff;
  all[39] = proto;
  all.set(seg, 40);
  all[40 + field] = 0;
  all[41 + field] = 0;
  let sum = 0;
  for (let i = 0; i < all.length; i += 2) sum += (all[i]! << 8) | all[i + 1]!;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

describe('UDP over IPv6', () => {
  it('verifies the checksum of the UDP datagram Linux sent, and rejects it once zeroed (mandatory over IPv6)', () => {
    const frames = JSON.parse(readFileSync(new URL('../fixtures/ipv6-frames.json', import.meta.url), 'utf8')) as { name: string; hex: string }[];
    const p = Ipv6Packet.checked(fromHex(frames.find((f) => f.name === 'ipv6-udp')!.hex).subarray(14))!;
    const udp = p.payload;
    expect(verifyUdp6Checksum(udp, 0, udp.length, p.src, p.dst)).toBe(true);
    expect(parseUdp(UdpPacket.checked(udp)!)).toMatchObject({ dstPort: 7000 }); // the header codec is family-agnostic
    const copy = udp.slice();
    copy[6] = 0;
    copy[7] = 0;
    expect(verifyUdp6Checksum(copy, 0, copy.length, p.src, p.dst)).toBe(false);
    fillUdp6Checksum(copy, 0, copy.length, p.src, p.dst);
    expect(read16(copy, 6)).toBe(0x48bd); // tshark's value
  });

  it('fills what the reference computes, never 0, and verification fails for other addresses', () => {
    fc.assert(
      fc.property(addr, addr, fc.uint8Array({ minLength: 8, maxLength: 120 }), fc.nat(7), (src, dst, seg, off) => {
        const buf = new Uint8Array(off + seg.length);
        buf.set(seg, off);
        fillUdp6Checksum(buf, off, off + seg.length, src, dst);
        const ref = reference(src, dst, 17, seg, 6);
        expect(read16(buf, off + 6)).toBe(ref === 0 ? 0xffff : ref);
        expect(verifyUdp6Checksum(buf, off, off + seg.length, src, dst)).toBe(true);
        const other = src.slice();
        other[0] ^= 0x80;
        expect(verifyUdp6Checksum(buf, off, off + seg.length, other, dst)).toBe(false);
      }),
    );
  });
});

describe('TCP over IPv6', () => {
  it('fills what the reference computes and verifies it', () => {
    fc.assert(
      fc.property(addr, addr, fc.uint8Array({ minLength: 20, maxLength: 120 }), (src, dst, seg) => {
        const buf = seg.slice();
        fillTcp6Checksum(buf, 0, buf.length, src, dst);
        expect(read16(buf, 16)).toBe(reference(src, dst, 6, seg, 16));
        expect(verifyTcp6Checksum(buf, 0, buf.length, src, dst)).toBe(true);
        buf[buf.length - 1] ^= 1;
        expect(verifyTcp6Checksum(buf, 0, buf.length, src, dst)).toBe(false);
      }),
    );
    expect(verifyTcp6Checksum(new Uint8Array(19), 0, 19, new Uint8Array(16), new Uint8Array(16))).toBe(false);
  });

  it('announces an MSS of MTU - 60', () => {
    expect(tcpMssForIpv6Mtu(1500)).toBe(1440);
    expect(tcpMssForIpv6Mtu(1280)).toBe(1220);
  });
});
