/** NDP message codecs and validity checks (RFC 4861 sections 4, 6.1, 7.1, 8.1; RFC 6980): protocols/icmpv6/wire-ndp.ts. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { fromHex, toHex } from '../../protocols/util/bytes.js';
import { parseIpv6, solicitedNodeMulticast } from '../../protocols/ipv6/address.js';
import { Icmpv6Packet } from '../../protocols/icmpv6/wire.js';
import { RA_FLAG_MANAGED, emitNdp, linkLayerOption, ndpBufferLen, parseNdp, validateNdp, type NdpContext, type NdpOption, type NdpParse, type NdpRepr } from '../../protocols/icmpv6/wire-ndp.js';
import { refChecksum } from './helpers.js';

const ip = (s: string): Uint8Array => parseIpv6(s)!;
const addr = fc.uint8Array({ minLength: 16, maxLength: 16 });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const bytes8n = (extra: number): fc.Arbitrary<Uint8Array> => fc.integer({ min: 0, max: 4 }).chain((n) => fc.uint8Array({ minLength: n * 8 + extra, maxLength: n * 8 + extra }));

const option: fc.Arbitrary<NdpOption> = fc.oneof(
  fc.record({ kind: fc.constantFrom('source-lla' as const, 'target-lla' as const), address: bytes8n(6) }),
  fc.record({ kind: fc.constant('prefix-info' as const), prefixLen: fc.integer({ min: 0, max: 255 }), onLink: fc.boolean(), autonomous: fc.boolean(), validLifetime: u32, preferredLifetime: u32, prefix: addr }),
  fc.record({ kind: fc.constant('redirected-header' as const), data: bytes8n(0) }),
  fc.record({ kind: fc.constant('mtu' as const), mtu: u32 }),
  fc.record({ kind: fc.constant('nonce' as const), nonce: bytes8n(6) }),
  fc.record({ kind: fc.constant('unknown' as const), type: fc.integer({ min: 6, max: 255 }).filter((t) => t !== 14), data: bytes8n(6) }),
);
const options = fc.array(option, { maxLength: 4 });
const ndpRepr: fc.Arbitrary<NdpRepr> = fc.oneof(
  fc.record({ kind: fc.constant('router-solicitation' as const), options }),
  fc.record({ kind: fc.constant('router-advertisement' as const), curHopLimit: fc.integer({ min: 0, max: 255 }), flags: fc.integer({ min: 0, max: 255 }), routerLifetime: fc.integer({ min: 0, max: 0xffff }), reachableTime: u32, retransTimer: u32, options }),
  fc.record({ kind: fc.constant('neighbor-solicitation' as const), target: addr, options }),
  fc.record({ kind: fc.constant('neighbor-advertisement' as const), router: fc.boolean(), solicited: fc.boolean(), override: fc.boolean(), target: addr, options }),
  fc.record({ kind: fc.constant('redirect' as const), target: addr, destination: addr, options }),
);

function parseHex(hex: string): NdpParse {
  return parseNdp(Icmpv6Packet.checked(fromHex(hex))!);
}

const MAC = '001122334455';

describe('NDP codecs (RFC 4861 section 4)', () => {
  it('parses a hand-built neighbor solicitation and its checksum verifies', () => {
    const src = ip('fe80::1');
    const dst = solicitedNodeMulticast(ip('fe80::2'));
    const msg = fromHex(`87000000 00000000 fe800000000000000000000000000002 0101${MAC}`);
    const ck = refChecksum(src, dst, msg);
    msg[2] = ck >>> 8;
    msg[3] = ck & 0xff;
    const p = Icmpv6Packet.checked(msg)!;
    expect(p.verifyChecksum(src, dst)).toBe(true);
    const r = parseNdp(p);
    expect(r.kind).toBe('neighbor-solicitation');
    if (r.kind !== 'neighbor-solicitation') return;
    expect(toHex(r.target)).toBe('fe800000000000000000000000000002');
    expect(toHex(linkLayerOption(r, 'source-lla')!)).toBe(MAC);
    expect(validateNdp(r, { src, dst, hopLimit: 255, fragmented: false })).toBeUndefined();
    // Emitting it again gives the same bytes, checksum included.
    const out = new Uint8Array(ndpBufferLen(r));
    emitNdp(r, out, 0, src, dst);
    expect(toHex(out)).toBe(toHex(msg));
  });

  it('parses an advertisement, a router advertisement with prefix and MTU options, a solicitation and a redirect', () => {
    expect(parseHex(`88000000 e0000000 fe800000000000000000000000000002 0201${MAC}`)).toMatchObject({ kind: 'neighbor-advertisement', router: true, solicited: true, override: true });
    expect(parseHex(`88000000 5fffffff fe800000000000000000000000000002`)).toMatchObject({ kind: 'neighbor-advertisement', router: false, solicited: true, override: false, options: [] });
    const ra = parseHex(`86000000 40c00708 00007530 000003e8 0304 40c0 00278d00 00093a80 00000000 20010db8000000010000000000000000 0501 0000 000005dc 0101${MAC}`);
    expect(ra).toMatchObject({ kind: 'router-advertisement', curHopLimit: 64, flags: 0xc0, routerLifetime: 1800, reachableTime: 30000, retransTimer: 1000 });
    if (ra.kind !== 'router-advertisement') return;
    expect(ra.flags & RA_FLAG_MANAGED).not.toBe(0);
    expect(ra.options[0]).toMatchObject({ kind: 'prefix-info', prefixLen: 64, onLink: true, autonomous: true, validLifetime: 2592000, preferredLifetime: 604800 });
    expect(toHex((ra.options[0] as { prefix: Uint8Array }).prefix)).toBe('20010db8000000010000000000000000');
    expect(ra.options[1]).toEqual({ kind: 'mtu', mtu: 1500 });
    expect(parseHex(`85000000 00000000 0101${MAC}`)).toMatchObject({ kind: 'router-solicitation' });
    const redirect = parseHex(`89000000 00000000 fe800000000000000000000000000009 20010db8000000000000000000000005 0401 000000000000`);
    expect(redirect).toMatchObject({ kind: 'redirect', options: [{ kind: 'redirected-header', data: new Uint8Array(0) }] });
  });

  it('rejects what RFC 4861 says to discard, with a reason', () => {
    expect(parseHex('87010000 00000000 fe800000000000000000000000000002')).toEqual({ kind: 'invalid', reason: 'bad-code' });
    expect(parseHex('87000000 00000000 fe80000000000000')).toEqual({ kind: 'invalid', reason: 'truncated' });
    expect(parseHex(`87000000 00000000 fe800000000000000000000000000002 0100${MAC}`)).toEqual({ kind: 'invalid', reason: 'bad-option-length' });
    expect(parseHex(`87000000 00000000 fe800000000000000000000000000002 0102${MAC}`)).toEqual({ kind: 'invalid', reason: 'bad-option-length' });
    expect(parseHex(`87000000 00000000 fe800000000000000000000000000002 01`)).toEqual({ kind: 'invalid', reason: 'bad-option-length' });
    expect(parseHex('80000000 00000000')).toEqual({ kind: 'invalid', reason: 'not-ndp' });
    // A prefix option of the wrong length is ignored (kept as unknown), not fatal.
    expect(parseHex(`86000000 40000000 00000000 00000000 0301 000000000000`)).toMatchObject({ kind: 'router-advertisement', options: [{ kind: 'unknown', type: 3 }] });
  });

  it('parse(emit(r)) equals r, and the checksum matches the reference', () => {
    fc.assert(
      fc.property(ndpRepr, addr, addr, (r, src, dst) => {
        const buf = new Uint8Array(ndpBufferLen(r));
        expect(emitNdp(r, buf, 0, src, dst)).toBe(buf.length);
        const p = Icmpv6Packet.checked(buf)!;
        expect(p.checksumField).toBe(refChecksum(src, dst, buf));
        expect(parseNdp(p)).toEqual(r);
      }),
    );
  });

  it('never throws on any bytes of an NDP type', () => {
    fc.assert(
      fc.property(fc.integer({ min: 133, max: 137 }), fc.uint8Array({ maxLength: 120 }), (type, body) => {
        const b = new Uint8Array(8 + body.length);
        b[0] = type;
        b.set(body, 8);
        const r = parseNdp(Icmpv6Packet.checked(b)!);
        if (r.kind !== 'invalid') {
          validateNdp(r, { src: ip('::'), dst: ip('ff02::1'), hopLimit: 255, fragmented: false });
          // Whatever parses re-emits to the same length (options are whole 8-byte units).
          expect(ndpBufferLen(r)).toBe(b.length);
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe('NDP validity with the IPv6 header', () => {
  const ns = (target: string, withLla: boolean): NdpRepr => ({ kind: 'neighbor-solicitation', target: ip(target), options: withLla ? [{ kind: 'source-lla', address: fromHex(MAC) }] : [] });
  const ctx = (src: string, dst: string, hopLimit = 255, fragmented = false): NdpContext => ({ src: ip(src), dst: ip(dst), hopLimit, fragmented });
  const snm = 'ff02::1:ff00:2';

  it('wants hop limit 255 and no fragmentation (RFC 6980)', () => {
    expect(validateNdp(ns('fe80::2', true), ctx('fe80::1', snm, 254))).toBe('hop-limit');
    expect(validateNdp(ns('fe80::2', true), ctx('fe80::1', snm, 255, true))).toBe('fragmented');
  });

  it('checks solicitations: target not multicast, DAD probes from :: only to solicited-node and without an address option', () => {
    expect(validateNdp(ns('ff02::1', true), ctx('fe80::1', snm))).toBe('multicast-target');
    expect(validateNdp(ns('fe80::2', false), ctx('::', snm))).toBeUndefined();
    expect(validateNdp(ns('fe80::2', false), ctx('::', 'fe80::2'))).toBe('unspecified-source-not-solicited-node');
    expect(validateNdp(ns('fe80::2', true), ctx('::', snm))).toBe('unspecified-source-with-lla');
  });

  it('checks advertisements, router messages and redirects', () => {
    const na = (solicited: boolean, target = 'fe80::2'): NdpRepr => ({ kind: 'neighbor-advertisement', router: false, solicited, override: true, target: ip(target), options: [] });
    expect(validateNdp(na(true), ctx('fe80::2', 'fe80::1'))).toBeUndefined();
    expect(validateNdp(na(true), ctx('fe80::2', 'ff02::1'))).toBe('solicited-to-multicast');
    expect(validateNdp(na(false), ctx('fe80::2', 'ff02::1'))).toBeUndefined();
    expect(validateNdp(na(false, 'ff02::2'), ctx('fe80::2', 'ff02::1'))).toBe('multicast-target');
    const ra: NdpRepr = { kind: 'router-advertisement', curHopLimit: 64, flags: 0, routerLifetime: 1800, reachableTime: 0, retransTimer: 0, options: [] };
    expect(validateNdp(ra, ctx('fe80::1', 'ff02::1'))).toBeUndefined();
    expect(validateNdp(ra, ctx('2001:db8::1', 'ff02::1'))).toBe('router-source-not-link-local');
    const rs: NdpRepr = { kind: 'router-solicitation', options: [{ kind: 'source-lla', address: fromHex(MAC) }] };
    expect(validateNdp(rs, ctx('::', 'ff02::2'))).toBe('unspecified-source-with-lla');
    expect(validateNdp(rs, ctx('fe80::3', 'ff02::2'))).toBeUndefined();
    const redirect = (target: string, destination: string): NdpRepr => ({ kind: 'redirect', target: ip(target), destination: ip(destination), options: [] });
    expect(validateNdp(redirect('fe80::9', '2001:db8::5'), ctx('fe80::1', 'fe80::2'))).toBeUndefined();
    expect(validateNdp(redirect('2001:db8::5', '2001:db8::5'), ctx('fe80::1', 'fe80::2'))).toBeUndefined();
    expect(validateNdp(redirect('2001:db8::9', '2001:db8::5'), ctx('fe80::1', 'fe80::2'))).toBe('redirect-target');
    expect(validateNdp(redirect('fe80::9', 'ff02::5'), ctx('fe80::1', 'fe80::2'))).toBe('redirect-multicast-destination');
    expect(validateNdp(redirect('fe80::9', '2001:db8::5'), ctx('2001:db8::1', 'fe80::2'))).toBe('router-source-not-link-local');
  });
});
