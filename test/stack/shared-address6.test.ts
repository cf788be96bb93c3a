/**
 * IPv6 on a driver that shares its address with the kernel (AF_XDP shared mode with `ipv6`), on the memory link and
 * the virtual clock: the kernel keeps NDP, and the stack's IPv6 neighbour cache asks the driver's mirror of the
 * kernel's neighbour table before resolving, as IPv4's does (core.ts `neighbourMac`). A first packet to a neighbour
 * the kernel already knows goes at once, and the kernel is asked to re-check its entry (`resolve6`, counted in
 * `kernelResolves`); a neighbour it does not know waits for its answer. A test double stands in for the kernel's
 * tables; the real mirror is tested against the kernel in test/native/xdp6-shared.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { FrameDriver, HostTableListener, HostTables } from '../../drivers/types.js';
import { read16 } from '../../protocols/util/bytes.js';
import type { TcpConnection } from '../../protocols/tcp/connection.js';
import { makePair6, v6, v6cidr, type Pair6 } from '../ipv6/stack-helpers.js';
import { addrId } from '../tcp6/helpers.js';

const A6 = 'fd7e::3';
const B6 = 'fd7e::1';
const hex = (ip: Uint8Array): string => Buffer.from(ip).toString('hex');

/** The kernel's tables as the driver mirrors them: IPv6 neighbours it knows, and the resolutions asked of it. */
class FakeKernel6 implements HostTables {
  readonly neighbours6 = new Map<string, Uint8Array>();
  readonly resolves6: string[] = [];
  private listener: HostTableListener | null = null;
  private events: ((l: HostTableListener) => void)[] = [];
  addresses() {
    return [];
  }
  routes() {
    return [];
  }
  neighbours() {
    return [];
  }
  neighbour(): Uint8Array | undefined {
    return undefined;
  }
  resolve(): void {}
  setListener(l: HostTableListener | null): void {
    this.listener = l;
  }
  addresses6() {
    return [v6cidr(`${A6}/64`)];
  }
  routes6() {
    return [];
  }
  neighbour6(ip: Uint8Array): Uint8Array | undefined {
    return this.neighbours6.get(hex(ip));
  }
  resolve6(ip: Uint8Array): void {
    this.resolves6.push(hex(ip));
  }
  /** The kernel learned `ip` (its NDP answered): the mirror has it, and the event reaches the stack at its next receive(). */
  learned(ip: string, mac: Uint8Array): void {
    this.neighbours6.set(hex(v6(ip)), mac);
    this.events.push((l) => l.neighbour6?.(v6(ip), mac));
  }
  deliver(): void {
    const evs = this.events;
    this.events = [];
    for (const ev of evs) if (this.listener) ev(this.listener);
  }
}

/** The memory link driver with the kernel's tables (and a count of the neighbour solicitations it sent). */
function shared(kernel: FakeKernel6, d: FrameDriver): FrameDriver & { solicitations: number } {
  let last: Uint8Array | null = null;
  const w: FrameDriver & { solicitations: number } = {
    caps: d.caps,
    hwAddress: d.hwAddress,
    stats: d.stats,
    hostTables: kernel,
    solicitations: 0,
    receive(now, max, sink) {
      kernel.deliver();
      return d.receive(now, max, sink);
    },
    txReserve: (len) => (last = d.txReserve(len)),
    txCommit(now, len) {
      // Ethernet IPv6, next header ICMPv6 (58), type 135: a neighbor solicitation.
      if (last !== null && read16(last, 12) === 0x86dd && last[20] === 58 && last[54] === 135) w.solicitations++;
      d.txCommit(now, len);
    },
    flush: (now) => d.flush(now),
    pollAt: (now) => d.pollAt?.(now),
    setReadyCallback: (cb) => d.setReadyCallback(cb),
    close: () => d.close(),
  };
  return w;
}

function setup(): { p: Pair6; kernel: FakeKernel6; driverA: ReturnType<typeof shared> } {
  const kernel = new FakeKernel6();
  let driverA: ReturnType<typeof shared> | undefined;
  const p = makePair6([`${A6}/64`], [`${B6}/64`], {
    wrapA: (d) => (driverA = shared(kernel, d)),
    b: { ipv6: { dad: { dupAddrDetectTransmits: 0 } } },
  });
  p.run(p.clock.now() + 10); // B's link-local and fd7e::1 come up (no DAD)
  return { p, kernel, driverA: driverA! };
}

/** A udp6 socket on `port` of stack `s` that keeps what it receives. */
function udp6(p: Pair6, side: 'a' | 'b', port: number): { send(to: string, toPort: number): void; got: number[] } {
  const sock = p[side].udp.createSocket();
  sock.bind6(undefined, port);
  const got: number[] = [];
  sock.onMessage6 = (data) => got.push(data.length);
  return { send: (to, toPort) => sock.send6(p.clock.now(), new Uint8Array(20), v6(to), toPort), got };
}

describe('shared address, IPv6: the neighbour cache asks the kernel\'s table (the driver\'s mirror) first', () => {
  it('a datagram to a neighbour the kernel knows goes at once, and the kernel is asked to re-check its entry', () => {
    const { p, kernel, driverA } = setup();
    kernel.neighbours6.set(hex(v6(B6)), p.b.mac);
    const rx = udp6(p, 'b', 9000);
    const tx = udp6(p, 'a', 0);
    const t0 = p.clock.now();
    tx.send(B6, 9000);
    p.run(t0 + 1, () => rx.got.length > 0);
    expect(rx.got).toEqual([20]);
    expect(p.clock.now() - t0).toBeLessThanOrEqual(1); // no wait for a resolution
    expect(p.a.ipv6!.ndp.neighbours.lookup(v6(B6))?.state).toBe('REACHABLE');
    expect(kernel.resolves6).toEqual([hex(v6(B6))]); // the re-check, as IPv4's neighbourMac asks it
    expect(p.a.stats.ndp!.kernelResolves).toBe(1);
    expect(p.a.stats.ndp!.neighbour.fromHost).toBe(1);
    expect(p.a.stats.ndp!.solicitationsSent).toBe(0);
    expect(driverA.solicitations).toBe(0);
    // Later datagrams use the cache: no more questions to the kernel.
    tx.send(B6, 9000);
    p.run(p.clock.now() + 1, () => rx.got.length > 1);
    expect(rx.got).toEqual([20, 20]);
    expect(kernel.resolves6).toHaveLength(1);
  });

  it('a TCP connection to a neighbour the kernel knows: its SYN goes at once (the segment built in the driver\'s buffer)', () => {
    const { p, kernel } = setup();
    kernel.neighbours6.set(hex(v6(B6)), p.b.mac);
    let server: TcpConnection | undefined;
    p.b.tcp!.listen(0, 80, 4, { family: 46 }).onConnection = (c) => (server = c);
    const t0 = p.clock.now();
    const client = p.a.tcp!.connect(t0, addrId(p.a, B6), 80);
    p.run(t0 + 5, () => client.state === 'ESTABLISHED' && server !== undefined);
    expect(client.state).toBe('ESTABLISHED');
    expect(p.clock.now() - t0).toBeLessThanOrEqual(1);
    expect(kernel.resolves6).toEqual([hex(v6(B6))]);
    expect(p.a.stats.ndp!.solicitationsSent).toBe(0);
  });

  it('a neighbour the kernel does not know: the datagram waits for the kernel\'s answer, then goes', () => {
    const { p, kernel } = setup();
    const rx = udp6(p, 'b', 9000);
    const tx = udp6(p, 'a', 0);
    tx.send(B6, 9000);
    p.run(p.clock.now() + 50);
    expect(rx.got).toEqual([]); // queued: the mirror had nothing
    expect(kernel.resolves6).toEqual([hex(v6(B6))]);
    expect(p.a.stats.ndp!.neighbour.fromHost).toBe(0);
    kernel.learned(B6, p.b.mac);
    p.run(p.clock.now() + 10, () => rx.got.length > 0);
    expect(rx.got).toEqual([20]);
    expect(p.a.stats.ndp!.solicitationsSent).toBe(0);
  });
});
