/** Randomised two-layer runs: any loss / reorder / duplication mix delivers both streams intact and closes cleanly. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Net, bytes, openPair } from './harness.js';
import { bytesEqual } from '../../protocols/util/bytes.js';
import type { TcpConnection } from '../../protocols/tcp/connection.js';

function duplex(net: Net, x: TcpConnection, y: TcpConnection, dx: Uint8Array, dy: Uint8Array): [Uint8Array, Uint8Array] {
  const rx = new Uint8Array(dy.length);
  const ry = new Uint8Array(dx.length);
  let gx = 0;
  let gy = 0;
  let sx = 0;
  let sy = 0;
  const buf = new Uint8Array(4096);
  const pump = (): void => {
    if (sx < dx.length) sx += x.send(net.now, dx.subarray(sx));
    else if (x.state === 'ESTABLISHED' || x.state === 'CLOSE-WAIT') x.shutdown(net.now);
    if (sy < dy.length) sy += y.send(net.now, dy.subarray(sy));
    else if (y.state === 'ESTABLISHED' || y.state === 'CLOSE-WAIT') y.shutdown(net.now);
  };
  x.onReadable = () => {
    for (let n; (n = x.read(net.now, buf)) > 0; gx += n) rx.set(buf.subarray(0, n), gx);
  };
  y.onReadable = () => {
    for (let n; (n = y.read(net.now, buf)) > 0; gy += n) ry.set(buf.subarray(0, n), gy);
  };
  x.onWritable = pump;
  y.onWritable = pump;
  pump();
  net.run(() => {
    pump();
    return gx === dy.length && gy === dx.length && x.readableEnded && y.readableEnded;
  }, 3_600_000);
  return [rx, ry];
}

describe('randomised duplex transfers', () => {
  it('deliver both directions intact under loss, reordering and duplication, then close', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.double({ min: 0, max: 0.15, noNaN: true }),
        fc.double({ min: 0, max: 0.2, noNaN: true }),
        fc.double({ min: 0, max: 0.1, noNaN: true }),
        fc.integer({ min: 0, max: 60_000 }),
        fc.integer({ min: 0, max: 60_000 }),
        fc.boolean(),
        fc.integer({ min: 1, max: 20 }),
        (seed, loss, reorder, dup, nx, ny, opts, latency) => {
          const o = opts ? {} : { sack: false, timestamps: false, windowScaling: false };
          const net = new Net(seed, { ...o, receiveBuffer: 32 * 1024, maxReceiveBuffer: 256 * 1024 });
          const { client, server } = openPair(net);
          net.loss = loss;
          net.reorder = reorder;
          net.dup = dup;
          net.latency = latency;
          const dx = bytes(nx, seed);
          const dy = bytes(ny, seed + 1);
          const [rx, ry] = duplex(net, client, server, dx, dy);
          expect(bytesEqual(ry, dx)).toBe(true);
          expect(bytesEqual(rx, dy)).toBe(true);
          net.loss = 0;
          net.run(() => client.state === 'CLOSED' && server.state === 'CLOSED', 3_600_000);
          expect([client.state, server.state]).toEqual(['CLOSED', 'CLOSED']);
          expect(net.a.connectionCount + net.b.connectionCount).toBe(0);
        },
      ),
      { numRuns: Number(process.env.TCP_STRESS_RUNS ?? 40) },
    );
  });
});

describe('randomised transfers with a slow reader and PMTU drops', () => {
  it('zero windows, persist probes and MSS changes never stall or corrupt the stream', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.double({ min: 0, max: 0.1, noNaN: true }),
        fc.integer({ min: 1, max: 200 }),
        fc.integer({ min: 64, max: 8192 }),
        fc.integer({ min: 10_000, max: 60_000 }),
        fc.option(fc.integer({ min: 576, max: 1400 }), { nil: undefined }),
        (seed, loss, readEvery, readChunk, n, mtu) => {
          const net = new Net(seed, { receiveBuffer: 4096, maxReceiveBuffer: 16384, sendBuffer: 16384 });
          const { client, server } = openPair(net);
          net.loss = loss;
          const d = bytes(n, seed);
          const got = new Uint8Array(n);
          let g = 0;
          let s = 0;
          const buf = new Uint8Array(readChunk);
          client.onWritable = () => {
            s += client.send(net.now, d.subarray(s));
          };
          s += client.send(net.now, d.subarray(s));
          let next = net.now + readEvery;
          net.wakeAt = () => next;
          let dropped = mtu === undefined;
          net.run(() => {
            if (!dropped && s > n / 3) {
              dropped = true;
              // The quoted segment: anything in flight (RFC 5927 validation needs SND.UNA <= seq < SND.NXT).
              const una = (client.info().unacked > 0) as boolean;
              if (una) net.a.icmpError(net.now, client.localIp, client.remoteIp, client.localPort, client.remotePort, ((client as unknown as { sndUna: number }).sndUna) >>> 0, 'frag-needed', 4, mtu!);
            }
            if (net.now >= next) {
              next = net.now + readEvery;
              const k = server.read(net.now, buf);
              got.set(buf.subarray(0, k), g);
              g += k;
            }
            if (s < n) s += client.send(net.now, d.subarray(s));
            return g === n;
          }, 36_000_000);
          expect(g).toBe(n);
          expect(bytesEqual(got, d)).toBe(true);
        },
      ),
      { numRuns: Number(process.env.TCP_STRESS_RUNS ?? 25) },
    );
  });
});
