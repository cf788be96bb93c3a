import { describe, expect, it } from 'vitest';
import { Ipv6AddressIds, isIpv6Id } from '../../protocols/tcp/addr-ids.js';
import { parseIpv6 } from '../../protocols/ipv6/address.js';

const key = new Uint8Array(16).map((_, i) => i * 7 + 1);
const addr = (s: string): Uint8Array => parseIpv6(s)!;

describe('Ipv6AddressIds', () => {
  it('interns an address once, in 0/8, and finds it from a view inside a frame', () => {
    const t = new Ipv6AddressIds(key, () => {});
    const a = t.intern(addr('fd00::1'));
    expect(isIpv6Id(a)).toBe(true);
    expect(a).toBeLessThan(0x1000000);
    const frame = new Uint8Array(40);
    frame.set(addr('fd00::1'), 8);
    expect(t.find(frame, 8)).toBe(a);
    expect(t.intern(frame, 8)).toBe(a);
    expect(t.intern(addr('fd00::2'))).not.toBe(a);
    expect(t.find(addr('fd00::3'))).toBe(0);
    expect([...t.bytes(a)!]).toEqual([...addr('fd00::1')]);
    frame.fill(0); // the table keeps its own copy
    expect([...t.bytes(a)!]).toEqual([...addr('fd00::1')]);
  });

  it('IPv4 numbers are not ids, and hash as themselves', () => {
    const t = new Ipv6AddressIds(key, () => {});
    expect(isIpv6Id(0)).toBe(false);
    expect(isIpv6Id(0x0a000001)).toBe(false);
    expect(t.hashWord(0x0a000001)).toBe(0x0a000001);
    const a = t.intern(addr('fe80::1'));
    expect(t.hashWord(a)).not.toBe(a); // the digest of the 16 bytes, not the id
  });

  it('the digest follows the address, not the id it got', () => {
    const t1 = new Ipv6AddressIds(key, () => {});
    const t2 = new Ipv6AddressIds(key, () => {});
    t2.intern(addr('fd00::9'));
    const a1 = t1.intern(addr('fd00::1'));
    const a2 = t2.intern(addr('fd00::1'));
    expect(a1).not.toBe(a2);
    expect(t1.hashWord(a1)).toBe(t2.hashWord(a2));
  });

  it('sweeps ids the layer no longer holds when it grows, keeping live ones and their ids', () => {
    const live = new Set<number>();
    const t = new Ipv6AddressIds(key, (mark) => live.forEach(mark), 8);
    const kept = t.intern(addr('fd00::1'));
    live.add(kept);
    for (let i = 2; i < 8; i++) t.intern(addr(`fd00::${i}`));
    expect(t.size).toBe(7);
    t.intern(addr('fd00::100'));
    t.intern(addr('fd00::101')); // the 9th: a sweep first
    expect(t.sweeps).toBe(1);
    expect(t.find(addr('fd00::1'))).toBe(kept);
    expect(t.find(addr('fd00::2'))).toBe(0);
    expect(t.size).toBe(2);
  });

  it('answers 0 when every id is live, and deals ids round the range', () => {
    const t = new Ipv6AddressIds(key, (mark) => { for (let i = 1; i < 4; i++) mark(i); }, 2, 4);
    expect([t.intern(addr('::a')), t.intern(addr('::b')), t.intern(addr('::c'))]).toEqual([1, 2, 3]);
    expect(t.intern(addr('::d'))).toBe(0);
  });
});
