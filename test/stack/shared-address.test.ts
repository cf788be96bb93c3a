/**
 * The stack on a driver that shares its address with the kernel (the FrameDriver `flows` and `hostTables`
 * capabilities, as AF_XDP shared mode has them), on the memory link and the virtual clock. A test double stands in
 * for the kernel: it records claims and can refuse ports, answers resolutions when the test says, and delivers
 * table events from inside receive() as the contract requires. The real driver is tested against the kernel in
 * test/conformance/shared-address.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { FlowSteering, FrameDriver, HostRoute, HostTableListener, HostTables, SteeredFlow } from '../../drivers/types.js';
import { EtherType } from '../../protocols/ethernet/wire.js';
import { read16 } from '../../protocols/util/bytes.js';
import type { TcpConnection } from '../../protocols/tcp/connection.js';
import { cidr, ip, makePair } from './harness.js';
import { faults, pcap } from '../../drivers/middleware/index.js';

/** Stack B's MAC (seeded, so the same in every pair): what the kernel's neighbour table would hold for 10.0.0.2. */
const B_MAC = makePair().b.mac;

const key = (f: SteeredFlow) => `${f.protocol}/${f.port}`;

class FakeKernel implements FlowSteering, HostTables {
  readonly claimed = new Set<string>();
  readonly held = new Set<string>(); // ports the "kernel" uses itself
  readonly log: string[] = [];
  readonly resolves: number[] = [];
  addrs = [cidr('10.0.0.1/24')];
  routeList: HostRoute[] = [];
  neighbourList: { ip: number; mac: Uint8Array }[] = [];
  listener: HostTableListener | null = null;
  private events: ((l: HostTableListener) => void)[] = [];

  claim(f: SteeredFlow): boolean {
    if (this.held.has(key(f))) return false;
    expect(this.claimed.has(key(f)), `double claim of ${key(f)}`).toBe(false);
    this.claimed.add(key(f));
    this.log.push(`+${key(f)}`);
    return true;
  }
  release(f: SteeredFlow): void {
    this.claimed.delete(key(f));
    this.log.push(`-${key(f)}`);
  }
  addresses() {
    return this.addrs;
  }
  routes() {
    return this.routeList;
  }
  neighbours() {
    return this.neighbourList;
  }
  neighbour(ipAddr: number): Uint8Array | undefined {
    return this.neighbourList.find((n) => n.ip === ipAddr)?.mac;
  }
  resolve(ipAddr: number): void {
    this.resolves.push(ipAddr);
  }
  setListener(l: HostTableListener | null): void {
    this.listener = l;
  }
  /** The kernel's table changes for `ipAddr`: the mirror is updated and the event queued, as the driver does. */
  neighbourEvent(ipAddr: number, mac: Uint8Array | null): void {
    this.neighbourList = this.neighbourList.filter((n) => n.ip !== ipAddr);
    if (mac !== null) this.neighbourList.push({ ip: ipAddr, mac });
    this.later((l) => l.neighbour(ipAddr, mac));
  }
  /** Queue an event for the next receive() (the contract: events arrive from inside receive()). */
  later(ev: (l: HostTableListener) => void): void {
    this.events.push(ev);
  }
  deliver(): void {
    const evs = this.events;
    this.events = [];
    for (const ev of evs) if (this.listener) ev(this.listener);
  }
}

/** The memory link driver with the two capabilities of a shared-address driver. */
function shared(kernel: FakeKernel): (d: FrameDriver) => FrameDriver {
  return (d) => {
    const sent: Uint8Array[] = [];
    let lastReserved: Uint8Array | null = null;
    const wrapped: FrameDriver & { sent: Uint8Array[] } = {
      caps: d.caps,
      hwAddress: d.hwAddress,
      stats: d.stats,
      flows: kernel,
      hostTables: kernel,
      sent,
      receive(now, max, sink) {
        kernel.deliver();
        return d.receive(now, max, sink);
      },
      txReserve: (len) => (lastReserved = d.txReserve(len)),
      txCommit(now, len) {
        // A copy of every frame sent: the tests check that no ARP leaves a shared-address stack.
        if (lastReserved !== null) sent.push(lastReserved.slice(0, len));
        d.txCommit(now, len);
      },
      flush: (now) => d.flush(now),
      pollAt: (now) => d.pollAt?.(now),
      setReadyCallback: (cb) => d.setReadyCallback(cb),
      close: () => d.close(),
    };
    return wrapped;
  };
}

function setup(kernel = new FakeKernel(), middleware?: (d: FrameDriver) => FrameDriver) {
  const p = makePair({ wrapA: (d) => (middleware ?? ((x: FrameDriver) => x))(shared(kernel)(d)) });
  // Stack A ignores ARP (the kernel owns it); B learns A's MAC as the kernel's ARP reply would have told it.
  p.b.neighbours.addStatic(ip('10.0.0.1'), p.a.mac);
  const driverA = p.a.driver as FrameDriver & { sent: Uint8Array[] };
  const arpSent = () => driverA.sent.filter((f) => read16(f, 12) === EtherType.ARP).length;
  return { p, kernel, arpSent };
}

describe('shared address: ports are claimed from the kernel', () => {
  it('a TCP listener claims its port, and closing it gives the port back', () => {
    const { p, kernel } = setup();
    const l = p.a.tcp!.listen(0, 8080, 8);
    expect(kernel.claimed).toEqual(new Set(['tcp/8080']));
    l.close(p.clock.now());
    expect(kernel.claimed.size).toBe(0);
    expect(kernel.log).toEqual(['+tcp/8080', '-tcp/8080']);
  });

  it('listening on a port the kernel holds fails with EADDRINUSE and claims nothing', () => {
    const kernel = new FakeKernel();
    kernel.held.add('tcp/22');
    const { p } = setup(kernel);
    expect(() => p.a.tcp!.listen(0, 22, 8)).toThrow(expect.objectContaining({ code: 'EADDRINUSE' }));
    expect(kernel.claimed.size).toBe(0);
    // The listener table is untouched: the port can be tried again once the kernel lets go.
    kernel.held.clear();
    p.a.tcp!.listen(0, 22, 8);
    expect(kernel.claimed).toEqual(new Set(['tcp/22']));
  });

  it('accepted connections share the listener claim; an active open claims its ephemeral port until TIME-WAIT ends', () => {
    const kernel = new FakeKernel();
    kernel.neighbourList = [{ ip: ip('10.0.0.2'), mac: B_MAC }];
    const { p } = setup(kernel);
    // Make the kernel hold a band of ephemeral ports: the search must move past them.
    for (let port = 49152; port <= 65535; port++) if (port % 4 !== 0) kernel.held.add(`tcp/${port}`);
    const lb = p.b.tcp!.listen(0, 80, 8);
    let server: TcpConnection | undefined;
    lb.onConnection = (c) => (server = c);
    const client = p.a.tcp!.connect(p.clock.now(), ip('10.0.0.2'), 80);
    expect(client.localPort % 4).toBe(0);
    expect(kernel.claimed).toEqual(new Set([`tcp/${client.localPort}`]));
    p.run({ stopWhen: () => client.state === 'ESTABLISHED' && server !== undefined });
    expect(client.state).toBe('ESTABLISHED');

    // A passive connection on a shared-address listener claims nothing new.
    const la = p.a.tcp!.listen(0, 9000, 8);
    let accepted: TcpConnection | undefined;
    la.onConnection = (c) => (accepted = c);
    const back = p.b.tcp!.connect(p.clock.now(), ip('10.0.0.1'), 9000);
    p.run({ stopWhen: () => accepted !== undefined && back.state === 'ESTABLISHED' });
    expect(accepted?.state).toBe('ESTABLISHED');
    expect(kernel.claimed).toEqual(new Set([`tcp/${client.localPort}`, 'tcp/9000']));

    // The active closer goes through TIME-WAIT: its port stays claimed until 2 MSL have passed.
    client.close(p.clock.now());
    p.run({ stopWhen: () => server?.state === 'CLOSE-WAIT' });
    server!.close(p.clock.now());
    p.run({ stopWhen: () => client.state === 'TIME-WAIT' && server!.state === 'CLOSED' });
    expect(client.state).toBe('TIME-WAIT');
    expect(kernel.claimed.has(`tcp/${client.localPort}`)).toBe(true);
    p.run({ stopWhen: () => client.state === 'CLOSED', until: p.clock.now() + 121_000 });
    expect(client.state).toBe('CLOSED');
    expect(kernel.claimed).toEqual(new Set(['tcp/9000']));
  });

  it('UDP sockets claim on bind, skip ports the kernel holds, and release on close', () => {
    const kernel = new FakeKernel();
    const { p } = setup(kernel);
    kernel.held.add('udp/5353');
    const s = p.a.udp.createSocket();
    expect(() => s.bind(0, 5353)).toThrow(expect.objectContaining({ code: 'EADDRINUSE' }));
    const t = p.a.udp.createSocket();
    t.bind(0, 7000);
    const u = p.a.udp.createSocket();
    u.bind(ip('10.0.0.1'), 7000 + 1);
    expect(kernel.claimed).toEqual(new Set(['udp/7000', 'udp/7001']));
    // Ephemeral: only one port in four is free in the kernel; each bind lands on a free one.
    for (let port = 49152; port <= 65535; port++) if (port % 4 !== 0) kernel.held.add(`udp/${port}`);
    const e = p.a.udp.createSocket();
    e.bind(0, 0);
    expect(e.localPort % 4).toBe(0);
    expect(kernel.claimed.has(`udp/${e.localPort}`)).toBe(true);
    t.close();
    u.close();
    e.close();
    expect(kernel.claimed.size).toBe(0);
  });

  it('the first ping claims the echo identifier', () => {
    const kernel = new FakeKernel();
    kernel.neighbourList = [{ ip: ip('10.0.0.2'), mac: B_MAC }];
    const { p } = setup(kernel);
    let rtt: number | undefined;
    p.a.ping(p.clock.now(), ip('10.0.0.2'), {}, (r) => (rtt = r.ok ? r.rttMs : -1));
    p.run({ stopWhen: () => rtt !== undefined });
    expect(rtt).toBeGreaterThanOrEqual(0);
    expect([...kernel.claimed].filter((k) => k.startsWith('icmp/'))).toHaveLength(1);
    p.a.ping(p.clock.now(), ip('10.0.0.2'), {}, () => {});
    expect(kernel.log.filter((k) => k.startsWith('+icmp/'))).toHaveLength(1);
  });
});

describe('shared address: neighbours and routes come from the kernel', () => {
  it('sends no ARP at all: asks the kernel, and sends once the kernel answers', () => {
    const { p, kernel, arpSent } = setup();
    const rx = p.b.udp.createSocket();
    rx.bind(0, 9);
    const got: string[] = [];
    rx.onMessage = (d) => got.push(new TextDecoder().decode(d));
    const tx = p.a.udp.createSocket();
    tx.send(p.clock.now(), new TextEncoder().encode('hello'), ip('10.0.0.2'), 9);
    expect(kernel.resolves).toEqual([ip('10.0.0.2')]);
    // Nothing moves until the kernel answers (its answer comes from inside receive()).
    p.run({ until: p.clock.now() + 200 });
    expect(got).toEqual([]);
    kernel.neighbourEvent(ip('10.0.0.2'), p.b.mac);
    p.run({ stopWhen: () => got.length > 0, until: p.clock.now() + 1000 });
    expect(got).toEqual(['hello']);
    expect(arpSent()).toBe(0); // not even the gratuitous ARP at start
    expect(p.a.stats.arp.neighbour.resolved).toBe(1);
  });

  it('a neighbour the kernel already knows is used at once, without a round of resolution', () => {
    const kernel = new FakeKernel();
    kernel.neighbourList = [{ ip: ip('10.0.0.2'), mac: B_MAC }]; // read when the stack is built
    const { p, arpSent } = setup(kernel);
    const rx = p.b.udp.createSocket();
    rx.bind(0, 9);
    let n = 0;
    rx.onMessage = () => n++;
    p.a.udp.createSocket().send(p.clock.now(), new Uint8Array(8), ip('10.0.0.2'), 9);
    p.run({ stopWhen: () => n > 0, until: p.clock.now() + 10 });
    expect(n).toBe(1);
    expect(arpSent()).toBe(0);
    expect(p.a.stats.arp.neighbour.requestsSent).toBe(0);
  });

  it('a resolution the kernel fails drops the waiting packets and fails the connect with EHOSTUNREACH', () => {
    const { p, kernel } = setup();
    const c = p.a.tcp!.connect(p.clock.now(), ip('10.0.0.77'), 80);
    expect(kernel.resolves).toEqual([ip('10.0.0.77')]);
    kernel.neighbourEvent(ip('10.0.0.77'), null);
    p.run({ stopWhen: () => c.state === 'CLOSED', until: p.clock.now() + 500 });
    expect(c.state).toBe('CLOSED');
    expect(c.error).toBe('EHOSTUNREACH');
  });

  it('a kernel that forgets a neighbour makes the stack ask again; a changed MAC is used at once', () => {
    const { p, kernel } = setup();
    kernel.neighbourEvent(ip('10.0.0.2'), p.b.mac);
    p.run({ until: p.clock.now() + 10 });
    const rx = p.b.udp.createSocket();
    rx.bind(0, 9);
    let n = 0;
    rx.onMessage = () => n++;
    const tx = p.a.udp.createSocket();
    tx.send(p.clock.now(), new Uint8Array(4), ip('10.0.0.2'), 9);
    p.run({ stopWhen: () => n === 1, until: p.clock.now() + 10 });
    expect(n).toBe(1);
    kernel.resolves.length = 0;
    kernel.neighbourEvent(ip('10.0.0.2'), null);
    p.run({ until: p.clock.now() + 10 });
    tx.send(p.clock.now(), new Uint8Array(4), ip('10.0.0.2'), 9);
    expect(kernel.resolves).toEqual([ip('10.0.0.2')]);
    expect(n).toBe(1);
  });

  it('follows the kernel routes: a default route appears, is used, and its removal makes the net unreachable', () => {
    const kernel = new FakeKernel();
    kernel.routeList = [{ destination: cidr('10.0.0.0/24'), metric: 0 }];
    const { p } = setup(kernel);
    const tx = p.a.udp.createSocket();
    expect(() => tx.send(p.clock.now(), new Uint8Array(4), ip('192.0.2.1'), 9)).toThrow(expect.objectContaining({ code: 'ENETUNREACH' }));
    const dflt: HostRoute = { destination: cidr('0.0.0.0/0'), gateway: ip('10.0.0.2'), metric: 100 };
    kernel.later((l) => l.route('add', dflt));
    p.run({ until: p.clock.now() + 10 });
    expect(p.a.routes.lookup(ip('192.0.2.1'))?.nextHop).toBe(ip('10.0.0.2'));
    tx.send(p.clock.now(), new Uint8Array(4), ip('192.0.2.1'), 9);
    expect(kernel.resolves).toContain(ip('10.0.0.2')); // the gateway is resolved, not the far address
    kernel.later((l) => l.route('delete', dflt));
    p.run({ until: p.clock.now() + 10 });
    expect(p.a.routes.lookup(ip('192.0.2.1'))).toBeUndefined();
    // The interface's own prefix stays routed (a duplicate from the kernel is not added twice, nor removed).
    expect(p.a.routes.list().filter((r) => r.destination.prefixLen === 24)).toHaveLength(1);
  });
});

describe('shared address: middleware keeps the capabilities', () => {
  const wraps: [string, (d: FrameDriver) => FrameDriver][] = [
    ['pcap', (d) => pcap(d, { sink: () => {} })],
    ['faults (active: tx delay)', (d) => faults(d, { seed: 1, tx: { delayMs: 1 } })],
    ['faults over pcap', (d) => faults(pcap(d, { sink: () => {} }), { seed: 2, rx: { delayMs: 1 } })],
  ];
  for (const [name, wrap] of wraps) {
    it(`${name}: flows and hostTables reach the stack; it claims its port from the kernel and sends no ARP`, () => {
      const { p, kernel, arpSent } = setup(new FakeKernel(), wrap);
      const d = p.a.driver;
      expect(d.flows).toBe(kernel);
      expect(d.hostTables).toBe(kernel);
      const rx = p.b.udp.createSocket();
      rx.bind(0, 9);
      const got: string[] = [];
      rx.onMessage = (m) => got.push(new TextDecoder().decode(m));
      const tx = p.a.udp.createSocket();
      tx.bind(0, 4000);
      expect(kernel.log).toEqual(['+udp/4000']);
      tx.send(p.clock.now(), new TextEncoder().encode('through'), ip('10.0.0.2'), 9);
      expect(kernel.resolves).toEqual([ip('10.0.0.2')]);
      kernel.neighbourEvent(ip('10.0.0.2'), p.b.mac);
      p.run({ stopWhen: () => got.length > 0, until: p.clock.now() + 1000 });
      expect(got).toEqual(['through']);
      expect(arpSent()).toBe(0); // `sent` is the test double's own member, forwarded too
    });
  }
});

describe('shared address: createStack', () => {
  it('takes the interface addresses from the kernel when none is given, and refuses to guess otherwise', async () => {
    const { createStack } = await import('../../src/api/stack.js');
    const { memoryLink } = await import('../../drivers/memory/index.js');
    const kernel = new FakeKernel();
    kernel.addrs = [cidr('10.0.0.1/24'), cidr('10.9.0.1/16')];
    const [da, db] = memoryLink();
    const stack = createStack({ driver: shared(kernel)(da) });
    try {
      expect(stack.addresses).toEqual(['10.0.0.1/24', '10.9.0.1/16']);
    } finally {
      await stack.close();
    }
    expect(() => createStack({ driver: db })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    kernel.addrs = [];
    const [dc] = memoryLink();
    expect(() => createStack({ driver: shared(kernel)(dc) })).toThrow(expect.objectContaining({ code: 'EADDRNOTAVAIL' }));
  });
});
