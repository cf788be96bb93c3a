/**
 * Transports registered with the stack (src/stack/transport.ts): a protocol the stack does not know is handed to
 * the transport registered for its number, with ICMP errors quoting its packets; without one, the stack answers
 * protocol unreachable. Virtual clock only.
 */
import { describe, expect, it } from 'vitest';
import type { IcmpErrorKind, Transport } from '../../src/stack/stack.js';
import { ip, makePair } from './harness.js';

const EXPERIMENTAL = 253; // RFC 3692: for experimentation and testing

class Recorder implements Transport {
  readonly protocol = EXPERIMENTAL;
  readonly got: { src: number; dst: number; bytes: number[]; broadcast: boolean }[] = [];
  readonly errors: { kind: IcmpErrorKind; code: number; quotedFirst: number }[] = [];
  polls = 0;
  input(_now: number, buf: Uint8Array, _ipOff: number, start: number, end: number, src: number, dst: number, broadcast: boolean): void {
    this.got.push({ src, dst, bytes: [...buf.subarray(start, end)], broadcast });
  }
  flush(): void {}
  icmpError(_now: number, _src: number, _dst: number, quoted: Uint8Array, kind: IcmpErrorKind, code: number): boolean {
    this.errors.push({ kind, code, quotedFirst: quoted[0]! });
    return true;
  }
  poll(): void {
    this.polls++;
  }
  pollAt(): number | undefined {
    return undefined;
  }
}

function send(p: ReturnType<typeof makePair>, bytes: number[]): void {
  const t = p.a.output.begin(p.clock.now(), ip('10.0.0.1'), ip('10.0.0.2'), EXPERIMENTAL, bytes.length, 64, 0, 0, undefined)!;
  t.buf.set(bytes, t.offset);
  t.commit(p.clock.now());
  p.a.flush(p.clock.now());
}

describe('transports registered with the stack', () => {
  it('without a transport, a packet of an unknown protocol is counted and answered with protocol unreachable', () => {
    const p = makePair();
    const mine = new Recorder();
    p.a.register(mine);
    send(p, [1, 2, 3, 4, 5, 6, 7, 8]);
    p.run({ until: p.clock.now() + 100 });
    expect(p.b.stats.ipv4.unknownProtocol).toBe(1);
    expect(p.b.stats.icmp.errorsSent).toBe(1);
    // The error quotes A's packet: it reaches A's transport for that protocol, with the quoted L4 bytes.
    expect(mine.errors).toEqual([{ kind: 'unreachable', code: 2, quotedFirst: 1 }]);
  });

  it('with one, the packet is handed over in place with its addresses, and the transport is polled', () => {
    const p = makePair();
    const theirs = new Recorder();
    p.b.register(theirs);
    send(p, [9, 8, 7]);
    p.run({ until: p.clock.now() + 100 });
    expect(theirs.got).toEqual([{ src: ip('10.0.0.1'), dst: ip('10.0.0.2'), bytes: [9, 8, 7], broadcast: false }]);
    expect(theirs.polls).toBeGreaterThan(0);
    expect(p.b.stats.ipv4.unknownProtocol).toBe(0);
    expect(p.b.stats.icmp.errorsSent).toBe(0);
  });

  it('refuses a protocol number outside 0-255', () => {
    const p = makePair();
    const bad = Object.assign(new Recorder(), { protocol: 256 });
    expect(() => p.a.register(bad)).toThrow(/0-255/);
  });
});
