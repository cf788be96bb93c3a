/** IPv6 address text (RFC 4291 2.2, RFC 5952), scopes and the multicast mappings (protocols/ipv6/address.ts). */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { isIP } from 'node:net';
import {
  IPV6_ALL_NODES,
  Ipv6Scope,
  eui64InterfaceId,
  formatIpv6,
  ipv4Mapped,
  ipv6CidrContains,
  ipv6Equals,
  ipv6NetworkOf,
  ipv6Scope,
  isIpv4Mapped,
  isLinkLocal,
  isMulticast,
  isSolicitedNodeMulticast,
  linkLocalAddress,
  mappedIpv4,
  multicastMac,
  parseIpv6,
  parseIpv6Cidr,
  parseIpv6WithZone,
  solicitedNodeMulticast,
} from '../../protocols/ipv6/address.js';

const addr = fc.uint8Array({ minLength: 16, maxLength: 16 });
/** Addresses with many zero groups, where '::' placement matters. */
const sparseAddr = fc.array(fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff })), { minLength: 8, maxLength: 8 }).map((w) => {
  const a = new Uint8Array(16);
  w.forEach((x, i) => {
    a[i * 2] = x >>> 8;
    a[i * 2 + 1] = x & 0xff;
  });
  return a;
});

function hex(a: Uint8Array | undefined): string | undefined {
  return a === undefined ? undefined : Buffer.from(a).toString('hex');
}

describe('parseIpv6', () => {
  it('reads the RFC 4291 2.2 forms', () => {
    expect(hex(parseIpv6('2001:DB8:0:0:8:800:200C:417A'))).toBe('20010db80000000000080800200c417a');
    expect(hex(parseIpv6('2001:DB8::8:800:200C:417A'))).toBe('20010db80000000000080800200c417a');
    expect(hex(parseIpv6('FF01::101'))).toBe('ff010000000000000000000000000101');
    expect(hex(parseIpv6('::1'))).toBe('00000000000000000000000000000001');
    expect(hex(parseIpv6('::'))).toBe('00000000000000000000000000000000');
    expect(hex(parseIpv6('0:0:0:0:0:0:13.1.68.3'))).toBe('0000000000000000000000000d014403');
    expect(hex(parseIpv6('::FFFF:129.144.52.38'))).toBe('00000000000000000000ffff81903426');
    expect(hex(parseIpv6('1:2:3:4:5:6:7::'))).toBe('00010002000300040005000600070000'); // '::' for one group is readable
    expect(hex(parseIpv6('fe80::'))).toBe('fe800000000000000000000000000000');
  });

  it('rejects malformed text', () => {
    for (const s of [
      '', ':', ':::', '1::2::3', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', '12345::', 'g::1', ':1::', '1::2:', '1:2:3:4:5:6:7:8::',
      '::1.2.3', '::1.2.3.256', '1.2.3.4', '1.2.3.4::', '::01.2.3.4', ' ::1', '::1 ', 'fe80::1%eth0', '::1/128', '::-1', '0x1::',
    ]) {
      expect(parseIpv6(s), JSON.stringify(s)).toBeUndefined();
    }
    expect(parseIpv6(42 as unknown as string)).toBeUndefined();
  });

  it('accepts exactly what node:net isIP calls version 6 (zone ids aside)', () => {
    const samples = ['::', '::1', '1::', '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7::', '::2:3:4:5:6:7:8', '::ffff:1.2.3.4', '1::1.2.3.4', '1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:7:1.2.3.4', 'a:b', '1:::2', '::ffff:1.2.3.04'];
    for (const s of samples) expect(parseIpv6(s) !== undefined, s).toBe(isIP(s) === 6);
    fc.assert(
      fc.property(fc.stringMatching(/^[0-9a-f:.]{0,20}$/), (s) => {
        expect(parseIpv6(s) !== undefined, s).toBe(isIP(s) === 6);
      }),
      { numRuns: 3000 },
    );
  });

  it('splits a zone id off', () => {
    const z = parseIpv6WithZone('fe80::1%eth0');
    expect(hex(z?.address)).toBe('fe800000000000000000000000000001');
    expect(z?.zone).toBe('eth0');
    expect(parseIpv6WithZone('fe80::1')?.zone).toBeUndefined();
    expect(parseIpv6WithZone('fe80::1%')).toBeUndefined();
    expect(parseIpv6WithZone('fe80::1%a%b')).toBeUndefined();
  });
});

describe('formatIpv6 (RFC 5952)', () => {
  it('writes the canonical form of the RFC 5952 examples', () => {
    const cases: [string, string][] = [
      ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'], // 4.1 leading zeros, 4.2.1 longest run
      ['2001:db8:0:0:0:0:2:1', '2001:db8::2:1'],
      ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // 4.2.2: one zero group is not compressed
      ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'], // 4.2.3: the longest run
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // 4.2.3: the first of equal runs
      ['2001:DB8::ABCD', '2001:db8::abcd'], // 4.3 lowercase
      ['::ffff:192.0.2.1', '::ffff:192.0.2.1'], // 5: IPv4-mapped keeps its dotted quad
      ['0:0:0:0:0:0:0:0', '::'],
      ['1:0:0:0:0:0:0:0', '1::'],
      ['0:0:0:0:0:0:0:1', '::1'],
    ];
    for (const [i, o] of cases) expect(formatIpv6(parseIpv6(i)!), i).toBe(o);
  });

  it('parse(format(a)) is a, and the text agrees with Node (URL host serialisation follows RFC 5952 too)', () => {
    fc.assert(
      fc.property(fc.oneof(addr, sparseAddr), (a) => {
        const s = formatIpv6(a);
        expect(ipv6Equals(parseIpv6(s)!, a)).toBe(true);
        if (!isIpv4Mapped(a)) expect(new URL(`http://[${s}]/`).hostname).toBe(`[${s}]`);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('scopes, multicast, mappings', () => {
  it('classifies scopes (RFC 4291 2.7, RFC 6724 3.1)', () => {
    const scope = (s: string): number => ipv6Scope(parseIpv6(s)!);
    expect(scope('fe80::1')).toBe(Ipv6Scope.LinkLocal);
    expect(scope('::1')).toBe(Ipv6Scope.LinkLocal);
    expect(scope('ff02::1')).toBe(Ipv6Scope.LinkLocal);
    expect(scope('ff05::2')).toBe(Ipv6Scope.SiteLocal);
    expect(scope('ff0e::1')).toBe(Ipv6Scope.Global);
    expect(scope('ff01::1')).toBe(Ipv6Scope.InterfaceLocal);
    expect(scope('fd00::1')).toBe(Ipv6Scope.Global);
    expect(scope('2001:db8::1')).toBe(Ipv6Scope.Global);
    expect(scope('::')).toBe(0);
    expect(isLinkLocal(parseIpv6('febf::1')!)).toBe(true);
    expect(isLinkLocal(parseIpv6('fec0::1')!)).toBe(false);
    expect(isMulticast(IPV6_ALL_NODES)).toBe(true);
  });

  it('maps to the solicited-node group (RFC 4291 2.7.1) and its Ethernet address (RFC 2464 7)', () => {
    const sn = solicitedNodeMulticast(parseIpv6('2001:db8::4:5e6f:a7b8')!);
    expect(formatIpv6(sn)).toBe('ff02::1:ff6f:a7b8');
    expect(isSolicitedNodeMulticast(sn)).toBe(true);
    expect(isSolicitedNodeMulticast(IPV6_ALL_NODES)).toBe(false);
    expect(Buffer.from(multicastMac(sn)).toString('hex')).toBe('3333ff6fa7b8');
    expect(Buffer.from(multicastMac(IPV6_ALL_NODES)).toString('hex')).toBe('333300000001');
  });

  it('builds modified EUI-64 identifiers and link-local addresses (RFC 4291 appendix A, RFC 4862 5.3)', () => {
    const iid = eui64InterfaceId(Uint8Array.of(0x00, 0x11, 0x22, 0x33, 0x44, 0x55));
    expect(formatIpv6(linkLocalAddress(iid))).toBe('fe80::211:22ff:fe33:4455');
  });

  it('maps IPv4 addresses both ways', () => {
    const m = ipv4Mapped(0xc0000201);
    expect(formatIpv6(m)).toBe('::ffff:192.0.2.1');
    expect(mappedIpv4(m)).toBe(0xc0000201);
    expect(mappedIpv4(parseIpv6('::1')!)).toBeUndefined();
  });

  it('parses prefixes and tests containment bit by bit', () => {
    const c = parseIpv6Cidr('2001:db8:abcd:12::1/60')!;
    expect(c.prefixLen).toBe(60);
    expect(formatIpv6(ipv6NetworkOf(c))).toBe('2001:db8:abcd:10::');
    expect(ipv6CidrContains(c, parseIpv6('2001:db8:abcd:1f::9')!)).toBe(true);
    expect(ipv6CidrContains(c, parseIpv6('2001:db8:abcd:20::9')!)).toBe(false);
    expect(parseIpv6Cidr('::1')!.prefixLen).toBe(128);
    for (const s of ['::/129', '::/', '::/01', 'x/64', '::/-1']) expect(parseIpv6Cidr(s), s).toBeUndefined();
    fc.assert(
      fc.property(addr, addr, fc.integer({ min: 0, max: 128 }), (a, b, len) => {
        let same = true;
        for (let i = 0; i < len; i++) if (((a[i >> 3]! >> (7 - (i & 7))) & 1) !== ((b[i >> 3]! >> (7 - (i & 7))) & 1)) same = false;
        expect(ipv6CidrContains({ address: a, prefixLen: len }, b)).toBe(same);
        expect(ipv6CidrContains({ address: a, prefixLen: len }, ipv6NetworkOf({ address: a, prefixLen: len }))).toBe(true);
      }),
    );
  });
});
