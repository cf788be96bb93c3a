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
