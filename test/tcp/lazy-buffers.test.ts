/**
 * Buffers are allocated on first data, not per connection, and bufferMemoryLimit's accounting follows them: an
 * idle connection is charged its logical receive buffer only; the send ring is charged when it is made (the first
 * 16 KiB always granted, growth within the limit); TIME-WAIT and CLOSED give everything back.
 */
import { describe, expect, it } from 'vitest';
import { Net, bytes, openPair, transfer } from './harness.js';
import { expectBytes } from '../helpers/bytes.js';

const RCV = 32 * 1024;

describe('lazy send and receive buffers', () => {
  it('an idle connection is charged its receive buffer only; the send ring when first used', () => {
    const net = new Net(3, { receiveBuffer: RCV, maxReceiveBuffer: RCV, sendBuffer: 256 * 1024 });
    const { client, server } = openPair(net);
    expect(net.a.bufferMemory).toBe(RCV);
    expect(net.b.bufferMemory).toBe(RCV);
    expect(client.send(net.now, bytes(100))).toBe(100);
    expect(net.a.bufferMemory).toBe(RCV + 16 * 1024); // the first send ring: 16 KiB
    const first = new Uint8Array(200);
    let n = 0;
    net.run(() => (n += server.read(net.now, first.subarray(n))) >= 100);
    expectBytes(first.subarray(0, n), bytes(100));
    const got = transfer(net, client, server, bytes(200_000, 7));
    expectBytes(got, bytes(200_000, 7));
    // Growth past 16 KiB was charged, never above sendBuffer + the receive buffer.
    expect(net.a.bufferMemory).toBeGreaterThan(RCV + 16 * 1024);
    expect(net.a.bufferMemory).toBeLessThanOrEqual(RCV + 256 * 1024);
    expect(net.b.bufferMemory).toBe(RCV); // the receive ring is inside the logical buffer already charged
    client.close(net.now);
    server.onEnd = () => server.close(net.now);
    net.run(() => server.state === 'CLOSED' && client.state === 'TIME-WAIT');
    expect(net.b.bufferMemory).toBe(0);
    expect(net.a.bufferMemory).toBeLessThanOrEqual(1); // TIME-WAIT keeps a 1-byte logical buffer (window 0)
    net.advance(2 * 30_000 + 10);
    expect(client.state).toBe('CLOSED');
    expect(net.a.bufferMemory).toBe(0);
  });

  it('the first send ring is granted at the limit; growth beyond it is refused (backpressure)', () => {
    // The limit covers the two receive buffers and nothing more.
    const net = new Net(4, { receiveBuffer: RCV, maxReceiveBuffer: RCV, sendBuffer: 1 << 20, bufferMemoryLimit: RCV });
    const { client } = openPair(net);
    const n = client.send(net.now, new Uint8Array(100_000));
    expect(n).toBe(16 * 1024);
    expect(net.a.stats.bufferLimitHits).toBeGreaterThan(0);
    expect(net.a.bufferMemory).toBe(RCV + 16 * 1024);
  });

  it('data received out of order is held and delivered (the out-of-order queue is made on the first hole)', () => {
    const net = new Net(5, { receiveBuffer: RCV, maxReceiveBuffer: RCV });
    const { client, server } = openPair(net);
    let dropped = 0;
    net.filter = (from, seg) => from === 'a' && seg.payload.length > 0 && dropped++ === 0; // lose the first segment
    const data = bytes(20_000, 9);
    expectBytes(transfer(net, client, server, data), data);
    expect(dropped).toBeGreaterThan(1);
    expect(net.b.oooMemory).toBe(0);
  });
});

describe('send buffer auto-tuning (maxSendBuffer)', () => {
  /** 1 MB over a 10 ms one-way path (a bandwidth-delay product far above 64 KiB); virtual ms taken and the limit seen. */
  const run = (opts: Record<string, number>): { ms: number; limit: number; charged: number } => {
    const net = new Net(9, opts);
    net.latency = 10;
    const { client, server } = openPair(net);
    const t0 = net.now;
    let limit = 0;
    let charged = 0;
    net.wakeAt = () => {
      limit = Math.max(limit, client.info().sendBuffer);
      charged = Math.max(charged, net.a.bufferMemory);
      return undefined;
    };
    expectBytes(transfer(net, client, server, bytes(1_000_000, 5), 600_000), bytes(1_000_000, 5));
    return { ms: net.now - t0, limit, charged };
  };

  it('grows the limit past sendBuffer (to twice cwnd, up to maxSendBuffer), so a long path is not held to it', () => {
    const fixed = run({ sendBuffer: 64 * 1024 });
    const tuned = run({ sendBuffer: 64 * 1024, maxSendBuffer: 1 << 20 });
    expect(fixed.limit).toBe(64 * 1024);
    expect(tuned.limit).toBeGreaterThan(64 * 1024);
    expect(tuned.limit).toBeLessThanOrEqual(1 << 20);
    // The buffer, not the network, limited the fixed run: the tuned one is much faster on the same path.
    expect(tuned.ms).toBeLessThan(fixed.ms * 0.7);
    const capped = run({ sendBuffer: 64 * 1024, maxSendBuffer: 128 * 1024 });
    expect(capped.limit).toBe(128 * 1024);
    // Memory charged for the send ring follows the limit (the receive side's charge is the other part).
    expect(capped.charged).toBeLessThan(tuned.charged);
  });

  it('is on by default (4 MiB ceiling) and off when sendBuffer alone is given', () => {
    const net = new Net(1);
    expect(net.a.opts.maxSendBuffer).toBe(4 * 1024 * 1024);
    expect(new Net(1, { sendBuffer: 100_000 }).a.opts.maxSendBuffer).toBe(100_000);
  });

  it('refuses maxSendBuffer below sendBuffer', () => {
    expect(() => new Net(1, { sendBuffer: 1 << 20, maxSendBuffer: 1 << 19 })).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });
});
