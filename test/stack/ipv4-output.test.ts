/**
 * The transmit token (src/stack/ipv4-output.ts): what `begin` lends for each kind of destination, the error codes
 * when it lends nothing, and that a token is sent once. Virtual clock only.
 */
import { describe, expect, it } from 'vitest';
import { IPV4_FLAG_DF, IpProtocol } from '../../protocols/ipv4/wire.js';
import { TxKind } from '../../src/stack/ipv4-output.js';
import { ip, makePair } from './harness.js';

describe('Ipv4Output transmit token', () => {
  it('lends a direct packet to a resolved neighbour, a scratch one while ARP runs, and a loopback one to itself', () => {
    const p = makePair();
    const out = p.a.output;
    const a = ip('10.0.0.1');
    const b = ip('10.0.0.2');
    const waiting = out.begin(p.clock.now(), a, b, IpProtocol.UDP, 8, 64, 0, 0, undefined);
    expect(waiting?.kind).toBe(TxKind.Neighbour);
    expect(waiting?.scratch).toBe(true);
    expect(waiting?.offset).toBe(14 + 20);
    waiting!.commit(p.clock.now());
    p.run({ until: p.clock.now() + 50 });
    const direct = out.begin(p.clock.now(), a, b, IpProtocol.UDP, 8, 64, 0, 0, undefined);
    expect(direct?.kind).toBe(TxKind.Direct);
    expect(direct?.scratch).toBe(false);
    direct!.commit(p.clock.now());
    const self = out.begin(p.clock.now(), a, a, IpProtocol.UDP, 8, 64, 0, 0, undefined);
    expect(self?.kind).toBe(TxKind.Loopback);
    expect(self?.offset).toBe(20);
    self!.commit(p.clock.now());
    expect(out.loopback).toHaveLength(1);
  });

  it('throws when a token is committed twice or after a failed begin', () => {
    const p = makePair();
    const out = p.a.output;
    const t = out.begin(p.clock.now(), ip('10.0.0.1'), ip('10.0.0.2'), IpProtocol.UDP, 8, 64, 0, 0, undefined)!;
    t.commit(p.clock.now());
    expect(() => t.commit(p.clock.now())).toThrow(/committed twice/);
    const again = out.begin(p.clock.now(), ip('10.0.0.1'), ip('10.0.0.2'), IpProtocol.UDP, 70_000, 64, 0, 0, undefined);
    expect(again).toBeNull();
    expect(() => t.commit(p.clock.now())).toThrow(/committed twice/);
  });

  it('says why it lent nothing: EMSGSIZE above 65535 or above the MTU with DF, ENETUNREACH without a route', () => {
    const p = makePair();
    const out = p.a.output;
    const st = p.a.stats.ipv4;
    const now = p.clock.now();
    expect(out.begin(now, ip('10.0.0.1'), ip('10.0.0.2'), IpProtocol.UDP, 65_516, 64, 0, 0, undefined)).toBeNull();
    expect(out.error).toBe('EMSGSIZE');
    expect(out.begin(now, ip('10.0.0.1'), ip('10.0.0.2'), IpProtocol.TCP, 1481, 64, IPV4_FLAG_DF, 0, undefined)).toBeNull();
    expect(out.error).toBe('EMSGSIZE');
    expect(st.tooBig).toBe(2);
    expect(out.begin(now, ip('10.0.0.1'), ip('192.0.2.1'), IpProtocol.UDP, 8, 64, 0, 0, undefined)).toBeNull();
    expect(out.error).toBe('ENETUNREACH');
    expect(st.noRoute).toBe(1);
    // Without DF the same size is fragmented at commit.
    const frag = out.begin(now, ip('10.0.0.1'), ip('10.0.0.2'), IpProtocol.UDP, 1481, 64, 0, 0, undefined);
    expect(frag?.kind).toBe(TxKind.Fragment);
  });

  it('keeps a learned path MTU until it expires', () => {
    const p = makePair();
    const out = p.a.output;
    const b = ip('10.0.0.2');
    expect(out.mtuFor(0, b)).toBe(1500);
    out.learnPmtu(b, 1280, 1000);
    expect(out.mtuFor(999, b)).toBe(1280);
    expect(out.mtuFor(1000, b)).toBe(1500);
  });

  it('follows a route change for the destination it sent to last (its one-entry cache)', () => {
    const p = makePair();
    const out = p.a.output;
    const far = ip('192.0.2.1');
    const now = p.clock.now();
    expect(out.begin(now, ip('10.0.0.1'), far, IpProtocol.UDP, 8, 64, 0, 0, undefined)).toBeNull();
    expect(out.error).toBe('ENETUNREACH');
    p.a.routes.add({ destination: { address: far, prefixLen: 32 }, gateway: ip('10.0.0.2'), source: ip('10.0.0.1'), metric: 0, mtu: 1400 });
    const t = out.begin(now, ip('10.0.0.1'), far, IpProtocol.UDP, 8, 64, 0, 0, undefined);
    expect(t?.nextHop).toBe(ip('10.0.0.2'));
    expect(t?.mtu).toBe(1400);
    p.a.routes.remove({ address: far, prefixLen: 32 });
    expect(out.begin(now, ip('10.0.0.1'), far, IpProtocol.UDP, 8, 64, 0, 0, undefined)).toBeNull();
    expect(p.a.stats.ipv4.noRoute).toBe(2);
  });
});
