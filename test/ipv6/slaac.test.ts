/** RFC 7217 stable interface identifiers and RFC 4862 duplicate address detection (protocols/ipv6/stable-iid.ts, protocols/icmpv6/dad.ts). */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { formatIpv6, parseIpv6, withInterfaceId } from '../../protocols/ipv6/address.js';
import { isReservedInterfaceId, stableInterfaceId, type StableIidInput } from '../../protocols/ipv6/stable-iid.js';
import { DuplicateAddressDetection, type DadOptions } from '../../protocols/icmpv6/dad.js';
import { BywayError } from '../../protocols/util/errors.js';

const sha256 = (b: Uint8Array): Uint8Array => new Uint8Array(createHash('sha256').update(b).digest());
const KEY = new Uint8Array(16).fill(0x42);
const base: StableIidInput = { prefix: parseIpv6('2001:db8:1:2::')!, netIface: 'eth0', dadCounter: 0, secretKey: KEY };
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('RFC 7217 stable interface identifiers', () => {
  it('is the low 64 bits of F(prefix, interface, network id, DAD counter, key), stable across calls', () => {
    const a = stableInterfaceId(sha256, base)!;
    expect(a.dadCounter).toBe(0);
    expect(hex(stableInterfaceId(sha256, base)!.iid)).toBe(hex(a.iid));
    // The input layout written out by hand: prefix[0..8], len16 + "eth0", len16 + network id (none), counter32, key.
    const manual = Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 2, 0, 4, ...Buffer.from('eth0'), 0, 0, 0, 0, 0, 0, ...KEY]);
    expect(hex(a.iid)).toBe(hex(sha256(manual).subarray(24)));
    expect(formatIpv6(withInterfaceId(base.prefix, a.iid)).startsWith('2001:db8:1:2:')).toBe(true);
  });

  it('changes with the prefix, the interface, the network, the counter and the key (privacy across networks)', () => {
    const iid = (over: Partial<StableIidInput>): string => hex(stableInterfaceId(sha256, { ...base, ...over })!.iid);
    const seen = new Set([
      iid({}),
      iid({ prefix: parseIpv6('2001:db8:1:3::')! }),
      iid({ netIface: 'eth1' }),
      iid({ networkId: Uint8Array.of(1) }),
      iid({ dadCounter: 1 }),
      iid({ secretKey: new Uint8Array(16).fill(1) }),
    ]);
    expect(seen.size).toBe(6);
    // Bits past the first 64 of the prefix do not matter (a /64 is what SLAAC configures).
    expect(iid({ prefix: parseIpv6('2001:db8:1:2::ffff')! })).toBe(iid({}));
  });

  it('skips reserved identifiers (RFC 5453) by incrementing DAD_Counter', () => {
    for (const r of ['0000000000000000', 'fdffffffffffff80', 'fdffffffffffffff', '02005efffe000000', '02005efffe005213', '02005efffeffffff']) {
      expect(isReservedInterfaceId(Buffer.from(r, 'hex')), r).toBe(true);
    }
    for (const r of ['fdffffffffffff7f', '02005efffd000000', '0000000000000001']) expect(isReservedInterfaceId(Buffer.from(r, 'hex')), r).toBe(false);
    // A hash that yields a reserved identifier for counters 0 and 1.
    let calls = 0;
    const rigged = (b: Uint8Array): Uint8Array => {
      calls++;
      const counter = b[b.length - KEY.length - 1]!;
      return counter < 2 ? new Uint8Array(32) : sha256(b);
    };
    const r = stableInterfaceId(rigged, base)!;
    expect(r.dadCounter).toBe(2);
    expect(calls).toBe(3);
    expect(isReservedInterfaceId(r.iid)).toBe(false);
    expect(stableInterfaceId(() => new Uint8Array(32), base)).toBeUndefined();
    expect(() => stableInterfaceId(() => new Uint8Array(4), base)).toThrow(BywayError);
  });

  it('never yields a reserved identifier for any input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.string({ maxLength: 8 }), fc.nat(10), (prefix, netIface, dadCounter) => {
        const r = stableInterfaceId(sha256, { prefix, netIface, dadCounter, secretKey: KEY })!;
        expect(r.iid.length).toBe(8);
        expect(isReservedInterfaceId(r.iid)).toBe(false);
        expect(r.dadCounter).toBeGreaterThanOrEqual(dadCounter);
      }),
      { numRuns: 200 },
    );
  });
});

describe('RFC 4862 duplicate address detection', () => {
  const ADDR = parseIpv6('fe80::1234')!;
  function setup(options: Partial<DadOptions> = {}, random = 0.25): { dad: DuplicateAddressDetection; log: string[] } {
    const log: string[] = [];
    const dad = new DuplicateAddressDetection({ probe: (t) => log.push(`probe ${formatIpv6(t)}`), result: (a, s) => log.push(`${formatIpv6(a)} ${s}`) }, () => random, options);
    return { dad, log };
  }

  it('waits the random start delay, probes DupAddrDetectTransmits times RetransTimer apart, then prefers the address', () => {
    const { dad, log } = setup({ dupAddrDetectTransmits: 2 });
    dad.start(1000, ADDR);
    expect(dad.isTentative(ADDR)).toBe(true);
    expect(dad.pollAt()).toBe(1250);
    dad.poll(1249);
    expect(log).toEqual([]);
    dad.poll(1250);
    dad.poll(2250);
    expect(log).toEqual(['probe fe80::1234', 'probe fe80::1234']);
    dad.poll(3249);
    expect(log.length).toBe(2);
    dad.poll(3250);
    expect(log[2]).toBe('fe80::1234 PREFERRED');
    expect(dad.isTentative(ADDR)).toBe(false);
    expect(dad.pollAt()).toBeUndefined();
  });

  it('declares a duplicate on an advertisement for the address, or a probe of it from ::', () => {
    const a = setup({ maxStartDelayMs: 0 });
    a.dad.start(0, ADDR);
    a.dad.poll(0);
    a.dad.advertisement(ADDR);
    expect(a.log).toEqual(['probe fe80::1234', 'fe80::1234 DUPLICATE']);
    a.dad.poll(5000);
    expect(a.log.length).toBe(2);
    const b = setup();
    b.dad.start(0, ADDR);
    b.dad.solicitation(ADDR, false); // someone resolving it: not a conflict
    expect(b.dad.isTentative(ADDR)).toBe(true);
    b.dad.solicitation(parseIpv6('fe80::9')!, true); // another address
    expect(b.dad.isTentative(ADDR)).toBe(true);
    b.dad.solicitation(ADDR, true);
    expect(b.log).toEqual(['fe80::1234 DUPLICATE']);
    expect(b.dad.stats.duplicates).toBe(1);
  });

  it('puts a random nonce in its probes and ignores its own probe looped back (RFC 7527)', () => {
    const nonces: string[] = [];
    let k = 0;
    const draws = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7];
    const dad = new DuplicateAddressDetection({ probe: (_t, n) => nonces.push(hex(n)), result: () => {} }, () => draws[k++ % draws.length]!, { maxStartDelayMs: 0, dupAddrDetectTransmits: 2 });
    dad.start(0, ADDR);
    dad.poll(0);
    dad.poll(1000);
    expect(nonces).toEqual(['334c668099b3', '334c668099b3']); // floor(draw * 256) for draws 0.2..0.7, the same in every probe
    dad.solicitation(ADDR, true, Buffer.from(nonces[0]!, 'hex'));
    expect(dad.isTentative(ADDR)).toBe(true);
    dad.solicitation(ADDR, true, Buffer.from('334c668099b4', 'hex'));
    expect(dad.isTentative(ADDR)).toBe(false);
    expect(dad.stats).toMatchObject({ loopedBack: 1, duplicates: 1 });
  });

  it('with DupAddrDetectTransmits 0, an address is unique at once', () => {
    const { dad, log } = setup({ dupAddrDetectTransmits: 0 });
    dad.start(0, ADDR);
    expect(log).toEqual(['fe80::1234 PREFERRED']);
    expect(dad.pollAt()).toBeUndefined();
  });
});
