/** IPv4 address text parsing and prefix arithmetic (protocols/ipv4/address.ts). */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  IPV4_BROADCAST,
  cidrContains,
  directedBroadcast,
  formatIpv4,
  isLoopback,
  isMulticast,
  networkOf,
  parseCidr,
  parseIpv4,
  prefixMask,
} from '../../protocols/ipv4/address.js';

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const prefix = fc.integer({ min: 0, max: 32 });

/** Independent mask: prefixLen leading one bits, built bit by bit. */
function refMask(len: number): number {
  let m = 0;
  for (let i = 0; i < 32; i++) m = m * 2 + (i < len ? 1 : 0);
  return m;
}

describe('parseIpv4 / formatIpv4', () => {
  it('parses dotted quads to unsigned 32-bit numbers', () => {
    expect(parseIpv4('0.0.0.0')).toBe(0);
    expect(parseIpv4('255.255.255.255')).toBe(0xffffffff);
    expect(parseIpv4('10.0.0.1')).toBe(0x0a000001);
    expect(parseIpv4('192.168.1.200')).toBe(0xc0a801c8);
    expect(parseIpv4('128.0.0.0')).toBe(0x80000000); // high bit set stays positive
  });

  it('rejects leading zeros (no octal reading as inet_aton would)', () => {
    for (const s of ['010.1.1.1', '1.01.1.1', '1.1.001.1', '1.1.1.00', '00.0.0.0', '0255.1.1.1']) {
      expect(parseIpv4(s), s).toBeUndefined();
    }
  });

  it('rejects out-of-range parts', () => {
    for (const s of ['256.0.0.0', '1.2.3.256', '999.1.1.1', '1.2.3.1000', '4294967295.0.0.0', '-1.2.3.4']) {
      expect(parseIpv4(s), s).toBeUndefined();
    }
  });

  it('rejects wrong part counts and stray characters', () => {
    for (const s of [
      '', '1', '1.2', '1.2.3', '1.2.3.4.5', '1.2.3.', '.1.2.3', '1..2.3', '1.2.3.4.', ' 1.2.3.4', '1.2.3.4 ',
      '1.2.3.4\n', '1.2.3.0x4', '1.2.3.4/24', 'a.b.c.d', '1.2.3.+4', '1.2.3.4e0', '１.2.3.4', '0x7f.0.0.1',
    ]) {
      expect(parseIpv4(s), JSON.stringify(s)).toBeUndefined();
    }
  });

  it('rejects non-strings without throwing', () => {
    for (const v of [undefined, null, 0, 0x0a000001, {}, [], ['1', '2', '3', '4'], Symbol('x'), 1n, () => '1.2.3.4']) {
      expect(parseIpv4(v as unknown as string)).toBeUndefined();
    }
    // an object whose toString looks like an address is still not a string
    expect(parseIpv4({ toString: () => '1.2.3.4' } as unknown as string)).toBeUndefined();
  });

  it('round-trips: parseIpv4(formatIpv4(a)) === a for every u32', () => {
    fc.assert(
      fc.property(u32, (a) => {
        const text = formatIpv4(a);
        expect(text).toMatch(/^(0|[1-9]\d{0,2})(\.(0|[1-9]\d{0,2})){3}$/);
        expect(parseIpv4(text)).toBe(a);
      }),
      { numRuns: 2000 },
    );
  });

  it('round-trips: formatIpv4(parseIpv4(s)) === s for canonical dotted quads', () => {
    const octet = fc.integer({ min: 0, max: 255 });
    fc.assert(
      fc.property(fc.tuple(octet, octet, octet, octet), (parts) => {
        const s = parts.join('.');
        const a = parseIpv4(s)!;
        expect(a).toBe(((parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3]) >>> 0);
        expect(formatIpv4(a)).toBe(s);
      }),
      { numRuns: 1000 },
    );
  });

  it('never throws on arbitrary strings, and whatever it accepts is canonical', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.stringMatching(/^[0-9.]{0,20}$/)), (s) => {
        const a = parseIpv4(s);
        if (a !== undefined) {
          expect(Number.isInteger(a) && a >= 0 && a <= 0xffffffff).toBe(true);
          expect(formatIpv4(a)).toBe(s);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('prefixes', () => {
  it('prefixMask equals an independent bit-by-bit mask for 0..32', () => {
    for (let len = 0; len <= 32; len++) expect(prefixMask(len), `/${len}`).toBe(refMask(len));
  });

  it('parseCidr accepts address/len and a bare address (/32)', () => {
    expect(parseCidr('10.0.0.1/24')).toEqual({ address: 0x0a000001, prefixLen: 24 });
    expect(parseCidr('0.0.0.0/0')).toEqual({ address: 0, prefixLen: 0 });
    expect(parseCidr('1.2.3.4/32')).toEqual({ address: 0x01020304, prefixLen: 32 });
    expect(parseCidr('1.2.3.4')).toEqual({ address: 0x01020304, prefixLen: 32 });
  });

  it('parseCidr rejects malformed input', () => {
    for (const s of [
      '', '/', '/24', '10.0.0.1/', '10.0.0.1/33', '10.0.0.1/-1', '10.0.0.1/024', '10.0.0.1/00', '10.0.0.1/2 4',
      '10.0.0.1/24/8', '10.0.0.1/0x10', '10.0.0.1/1e1', '010.0.0.1/8', '10.0.0/8', '10.0.0.1/ 8', '10.0.0.1/8 ',
    ]) {
      expect(parseCidr(s), JSON.stringify(s)).toBeUndefined();
    }
  });

  it('parseCidr rejects non-strings without throwing, like parseIpv4 (the API turns undefined into a BywayError)', () => {
    for (const v of [undefined, null, 0, 24, {}, [], ['10.0.0.1/24'], 1n]) {
      expect(parseCidr(v as unknown as string)).toBeUndefined();
    }
  });

  it('formatIpv4 also takes the signed 32-bit form bitwise operators produce', () => {
    expect(formatIpv4(-1)).toBe('255.255.255.255');
    expect(formatIpv4(0xc0a80001 | 0)).toBe('192.168.0.1');
  });

  it('parseCidr round-trips generated prefixes', () => {
    fc.assert(
      fc.property(u32, prefix, (a, len) => {
        expect(parseCidr(`${formatIpv4(a)}/${len}`)).toEqual({ address: a, prefixLen: len });
      }),
      { numRuns: 1000 },
    );
  });

  it('cidrContains agrees with a bit-by-bit comparison of the first prefixLen bits', () => {
    const sameTopBits = (a: number, b: number, len: number): boolean => {
      for (let i = 31; i >= 32 - len; i--) if (Math.floor(a / 2 ** i) % 2 !== Math.floor(b / 2 ** i) % 2) return false;
      return true;
    };
    fc.assert(
      fc.property(u32, u32, prefix, fc.boolean(), (a, b, len, near) => {
        // half the cases share the prefix: keep a's top bits and b's host bits
        const candidate = near ? ((a & refMask(len)) | (b & ~refMask(len))) >>> 0 : b;
        const cidr = { address: a, prefixLen: len };
        expect(cidrContains(cidr, candidate)).toBe(sameTopBits(a, candidate, len));
        if (near) expect(cidrContains(cidr, candidate)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('cidrContains: /0 contains everything, /32 only the address itself', () => {
    expect(cidrContains({ address: 0x0a000001, prefixLen: 0 }, 0xffffffff)).toBe(true);
    expect(cidrContains({ address: 0x0a000001, prefixLen: 32 }, 0x0a000001)).toBe(true);
    expect(cidrContains({ address: 0x0a000001, prefixLen: 32 }, 0x0a000002)).toBe(false);
    expect(cidrContains({ address: 0xc0a80100, prefixLen: 24 }, 0xc0a801ff)).toBe(true);
    expect(cidrContains({ address: 0xc0a80100, prefixLen: 24 }, 0xc0a80200)).toBe(false);
    expect(cidrContains({ address: 0x80000000, prefixLen: 1 }, 0xffffffff)).toBe(true);
    expect(cidrContains({ address: 0x80000000, prefixLen: 1 }, 0x7fffffff)).toBe(false);
  });

  it('directedBroadcast sets the host bits; none for /31 and /32', () => {
    expect(directedBroadcast({ address: 0x0a000001, prefixLen: 24 })).toBe(0x0a0000ff);
    expect(directedBroadcast({ address: 0xc0a80a85, prefixLen: 30 })).toBe(0xc0a80a87);
    expect(directedBroadcast({ address: 0x0a000001, prefixLen: 8 })).toBe(0x0affffff);
    expect(directedBroadcast({ address: 0x0a000001, prefixLen: 0 })).toBe(IPV4_BROADCAST);
    expect(directedBroadcast({ address: 0x0a000001, prefixLen: 31 })).toBeUndefined();
    expect(directedBroadcast({ address: 0x0a000001, prefixLen: 32 })).toBeUndefined();
    fc.assert(
      fc.property(u32, fc.integer({ min: 0, max: 30 }), (a, len) => {
        const cidr = { address: a, prefixLen: len };
        const bc = directedBroadcast(cidr)!;
        const net = networkOf(cidr);
        expect(bc).toBeGreaterThanOrEqual(0);
        expect(cidrContains(cidr, bc)).toBe(true);
        expect(bc - net).toBe(2 ** (32 - len) - 1); // the last address of the prefix
        expect(net % 2 ** (32 - len)).toBe(0);
        expect(cidrContains(cidr, net)).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it('isMulticast (224/4) and isLoopback (127/8)', () => {
    expect(isMulticast(parseIpv4('224.0.0.1')!)).toBe(true);
    expect(isMulticast(parseIpv4('239.255.255.255')!)).toBe(true);
    expect(isMulticast(parseIpv4('223.255.255.255')!)).toBe(false);
    expect(isMulticast(parseIpv4('240.0.0.0')!)).toBe(false);
    expect(isLoopback(parseIpv4('127.0.0.1')!)).toBe(true);
    expect(isLoopback(parseIpv4('127.255.255.255')!)).toBe(true);
    expect(isLoopback(parseIpv4('128.0.0.1')!)).toBe(false);
    expect(isLoopback(parseIpv4('126.255.255.255')!)).toBe(false);
  });
});
