/**
 * A TCP connection's path cache (Negotiated.pathMtu / pathTsoMax, like Linux's dst cache entry): output asks the
 * stack for the path's MTU and TSO limit once per pathGeneration, not per segment, and still follows every change
 * that lowers them (a path MTU learned from another flow's ICMP error, a route with a lower MTU). Virtual clock only.
 */
import { describe, expect, it, vi } from 'vitest';
import type { TcpConnection } from '../../protocols/tcp/connection.js';
import { PATHS_UNKNOWN } from '../../protocols/tcp/conn-common.js';
import { ip, makePair, pattern, type Pair } from './harness.js';

/** An established connection a -> b:80 with a reader on b that takes everything, and the segments a sent per send. */
function open(p: Pair): { client: TcpConnection; sizes: number[]; send(n: number): void } {
  const listener = p.b.tcp!.listen(0, 80, 16);
  let server: TcpConnection | undefined;
  const scratch = new Uint8Array(1 << 16);
  const sizes: number[] = [];
  listener.onConnection = (c) => {
    server = c;
    c.onReadable = () => {
      while (c.read(p.clock.now(), scratch) > 0);
    };
  };
  const client = p.a.tcp!.connect(p.clock.now(), ip('10.0.0.2'), 80, { noDelay: true });
  p.run({ stopWhen: () => server !== undefined && client.state === 'ESTABLISHED' });
  const seen = p.a.tcp!.stats;
  return {
    client,
    sizes,
    send(n: number) {
      const before = seen.segsOut;
      const data = pattern(n);
      let sent = 0;
      p.run({ stopWhen: () => ((sent += client.send(p.clock.now(), data.subarray(sent))), sent === n && client.info().unacked === 0) });
      sizes.push(seen.segsOut - before);
    },
  };
}

describe('the path cache of a TCP connection (no route lookup per segment)', () => {
  it('asks the stack for the MTU and TSO limit once while the path stays the same', () => {
    const p = makePair();
    const mtuFor = vi.spyOn(p.a.output, 'mtuFor');
    const c = open(p);
    c.send(100_000); // about 70 segments
    expect(p.a.stats.tcp!.segsOut).toBeGreaterThan(60);
    expect(mtuFor).toHaveBeenCalledTimes(1);
    expect(c.client.info().sndMss).toBe(1500 - 40 - 12);
  });

  it('follows a path MTU learned from another flow (RFC 1191) at the next output', () => {
    const p = makePair();
    const c = open(p);
    c.send(10_000);
    expect(c.client.info().sndMss).toBe(1448);
    p.a.output.learnPmtu(ip('10.0.0.2'), 1200, p.clock.now() + 600_000);
    const mtuFor = vi.spyOn(p.a.output, 'mtuFor');
    c.send(10_000);
    expect(c.client.info().sndMss).toBe(1200 - 40 - 12);
    expect(mtuFor).toHaveBeenCalledTimes(1);
    // The whole 10,000 bytes in segments of the new MSS (9 of 1148, one of 816), besides the ACKs.
    expect(c.sizes.at(-1)).toBeGreaterThanOrEqual(Math.ceil(10_000 / 1148));
    expect(c.sizes[0]).toBeLessThan(c.sizes.at(-1)!);
  });

  it('follows a route change that lowers the MTU, and asks again only when the routes change', () => {
    const p = makePair();
    const c = open(p);
    c.send(10_000);
    const mtuFor = vi.spyOn(p.a.output, 'mtuFor');
    p.a.routes.add({ destination: { address: ip('10.0.0.2'), prefixLen: 32 }, source: ip('10.0.0.1'), metric: 0, mtu: 1000 });
    c.send(10_000);
    expect(c.client.info().sndMss).toBe(1000 - 40 - 12);
    expect(mtuFor).toHaveBeenCalledTimes(1);
    c.send(10_000);
    expect(mtuFor).toHaveBeenCalledTimes(1);
    // A removed route raises the path's MTU again; TCP keeps the lower MSS (it only lowers it, as before the cache).
    p.a.routes.remove({ address: ip('10.0.0.2'), prefixLen: 32 });
    c.send(10_000);
    expect(mtuFor).toHaveBeenCalledTimes(2);
    expect(c.client.info().sndMss).toBe(948);
  });

  it('keeps asking the stack on every output when the host keeps no generation (an IPv6 peer, a bare host)', () => {
    const p = makePair();
    const c = open(p);
    // An IPv4 peer of a host without `paths`: the layer's PATHS_UNKNOWN, whose generation no connection stores.
    (p.a.tcp as unknown as { inner: { paths: unknown } }).inner.paths = PATHS_UNKNOWN;
    const mtuFor = vi.spyOn(p.a.output, 'mtuFor');
    c.send(20_000);
    expect(mtuFor.mock.calls.length).toBeGreaterThan(1); // once per output (the cached path: none at all)
    expect(c.client.info().sndMss).toBe(1448);
  });
});

describe('the path cache when a segment arrives with nothing to send (Sender.outputAfterSegment)', () => {
  it('a path MTU learned meanwhile lowers the MSS at the next received segment, before anything is sent', () => {
    const p = makePair({ configA: { tcp: { quickAcks: 0 } } }); // data is ACKed late: its output runs at once
    const listener = p.b.tcp!.listen(0, 80, 16);
    let server: TcpConnection | undefined;
    listener.onConnection = (c) => (server = c);
    const client = p.a.tcp!.connect(p.clock.now(), ip('10.0.0.2'), 80, { noDelay: true });
    p.run({ stopWhen: () => server !== undefined && client.state === 'ESTABLISHED' });
    client.send(p.clock.now(), pattern(100));
    p.run({ until: p.clock.now() + 50 }); // sent and acknowledged: nothing left to send
    expect(client.info().unacked).toBe(0);
    expect(client.info().sndMss).toBe(1448);
    p.a.output.learnPmtu(ip('10.0.0.2'), 1200, p.clock.now() + 600_000);
    server!.send(p.clock.now(), pattern(10));
    p.run({ until: p.clock.now() + 1 });
    expect(client.readableLength).toBe(10);
    expect(client.info().sndMss).toBe(1200 - 40 - 12);
  });
});

describe('output after a received segment with nothing to send, in a stack (its paths known: the shortcut runs)', () => {
  it('data arriving on an idle connection (no timer armed) is ACKed by the delayed-ACK timer, 40 ms later', () => {
    const p = makePair({ configA: { tcp: { quickAcks: 0 } } });
    const listener = p.b.tcp!.listen(0, 80, 16);
    let server: TcpConnection | undefined;
    listener.onConnection = (c) => (server = c);
    const client = p.a.tcp!.connect(p.clock.now(), ip('10.0.0.2'), 80, { noDelay: true });
    p.run({ stopWhen: () => server !== undefined && client.state === 'ESTABLISHED' });
    p.run({ until: p.clock.now() + 5000 }); // whatever the handshake armed has run out
    expect(p.a.tcp!.pollAt(p.clock.now())).toBeUndefined();
    const out = p.a.stats.tcp!.segsOut;
    server!.send(p.clock.now(), pattern(64));
    const sentAt = p.clock.now();
    p.run({ until: sentAt + 39 });
    expect(client.readableLength).toBe(64);
    expect(p.a.stats.tcp!.segsOut).toBe(out);
    p.run({ until: sentAt + 41 });
    expect(p.a.stats.tcp!.segsOut).toBe(out + 1);
  });

  it('a FIN held by a zero window leaves with the window update, though no byte is unsent', () => {
    const p = makePair({ configB: { tcp: { receiveBuffer: 4096, maxReceiveBuffer: 4096 } } });
    const listener = p.b.tcp!.listen(0, 80, 16);
    let server: TcpConnection | undefined;
    listener.onConnection = (c) => (server = c);
    const client = p.a.tcp!.connect(p.clock.now(), ip('10.0.0.2'), 80, { noDelay: true });
    p.run({ stopWhen: () => server !== undefined && client.state === 'ESTABLISHED' });
    let sent = 0;
    const data = pattern(4096);
    p.run({ stopWhen: () => ((sent += client.send(p.clock.now(), data.subarray(sent))), sent === 4096 && client.info().unacked === 0), until: p.clock.now() + 1000 });
    expect(client.info().sndWnd).toBe(0); // all acknowledged, nothing read: the window is shut
    client.shutdown(p.clock.now()); // the FIN waits for the window
    p.run({ until: p.clock.now() + 5 });
    expect(server!.readableEnded).toBe(false);
    const scratch = new Uint8Array(8192);
    while (server!.read(p.clock.now(), scratch) > 0); // the window opens: B sends an update
    p.run({ until: p.clock.now() + 5 }); // far sooner than a persist probe
    expect(server!.readableEnded).toBe(true);
  });
});
