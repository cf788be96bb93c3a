/**
 * The receive queue of chunks (recv-queue.ts): bytes copied once into slabs, handed out as views that later writes
 * never overwrite; the copying read; and a connection read through views across sequence wrap (2^31, 2^32) with
 * loss and reordering (the out-of-order queue drains into it).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FIRST_SLAB, MAX_SLAB, RecvQueue } from '../../protocols/tcp/recv-queue.js';
import { RangeViews } from '../../protocols/util/bytes.js';
import type { TcpConnection } from '../../protocols/tcp/connection.js';
import { Net, bytes, openPair } from './harness.js';
import { concatBytes as concat, expectBytes } from '../helpers/bytes.js';

describe('RecvQueue', () => {
  it('hands out views that later writes never overwrite, within and across slabs', () => {
    const q = new RecvQueue();
    const data = bytes(300_000, 5);
    const views: Uint8Array[] = [];
    let w = 0;
    // Writes of 1460 bytes, reads of views of up to 5000 bytes in between: the views must keep their bytes.
    while (w < data.length) {
      const n = Math.min(1460, data.length - w);
      expect(q.writeRange(data, w, w + n)).toBe(n);
      w += n;
      if (w % 3 === 0) views.push(q.readView(5000));
    }
    while (q.length > 0) views.push(q.readView(65536));
    expect(views.every((v) => v.length <= 5000 || v.length <= MAX_SLAB)).toBe(true);
    expectBytes(concat(views), data);
    expect(q.readView(100).length).toBe(0);
  });

  it('a view never spans two slabs; slabs are 16 KiB for a queue that holds little, 64 KiB for bulk', () => {
    const q = new RecvQueue();
    const data = bytes(200_000, 6);
    q.writeRange(data, 0, data.length);
    const sizes: number[] = [];
    const views: Uint8Array[] = [];
    while (q.length > 0) {
      const v = q.readView(1 << 20);
      views.push(v);
      sizes.push(v.length);
    }
    // One write of 200,000 bytes: 64 KiB slabs.
    expect(sizes).toEqual([MAX_SLAB, MAX_SLAB, MAX_SLAB, 200_000 - 3 * MAX_SLAB]);
    expect(views.every((v) => v.buffer.byteLength <= MAX_SLAB)).toBe(true);
    expectBytes(concat(views), data);
    const small = new RecvQueue();
    small.writeRange(data, 0, 100);
    expect(small.readView(1000).buffer.byteLength).toBe(FIRST_SLAB);
    small.writeRange(data, 100, FIRST_SLAB); // the rest of the first slab, so the loop below starts a new one
    small.discard(FIRST_SLAB - 100);
    // A reader that keeps up with small messages (a request/response connection) stays on 16 KiB slabs.
    const slabs = new Set<ArrayBufferLike>();
    for (let i = 0; i < 2000; i++) {
      small.writeRange(data, i * 100, i * 100 + 100);
      const parts: Uint8Array[] = [];
      while (small.length > 0) parts.push(small.readView(65536)); // two views when a message spans two slabs
      expectBytes(concat(parts), data.subarray(i * 100, i * 100 + 100));
      for (const v of parts) slabs.add(v.buffer);
    }
    expect([...slabs].every((b) => b.byteLength === FIRST_SLAB)).toBe(true);
    expect(slabs.size).toBe(Math.ceil((2000 * 100) / FIRST_SLAB));
  });

  it('read copies across chunks; discard drops; a slab never lent starts over when the queue empties', () => {
    const q = new RecvQueue();
    const data = bytes(100_000, 7);
    q.writeRange(data, 0, 10_000);
    q.writeRange(data, 10_000, 100_000);
    const dst = new Uint8Array(30_000);
    expect(q.read(dst)).toBe(30_000);
    expectBytes(dst, data.subarray(0, 30_000));
    q.discard(20_000);
    expect(q.length).toBe(50_000);
    const rest = new Uint8Array(60_000);
    expect(q.read(rest)).toBe(50_000);
    expectBytes(rest.subarray(0, 50_000), data.subarray(50_000));
    // Only copies were taken: the next bytes go to the start of the current slab again (ring-like reuse)...
    q.writeRange(data, 0, 10);
    const v1 = q.readView(10);
    expect(v1.byteOffset).toBe(0);
    // ...but once a view was handed out, the slab's bytes stay as they are.
    q.writeRange(data, 10, 20);
    const v2 = q.readView(10);
    expect(v2.byteOffset).toBe(10);
    expectBytes(v1, data.subarray(0, 10));
    expectBytes(v2, data.subarray(10, 20));
  });

  it('a copying reader of small messages at a slab\'s index 0 gets the bytes written now: one size, varying sizes, a new slab, a partial read', () => {
    const q = new RecvQueue();
    const sizes = [64, 64, 64, 10, 64, 10, 10, 64, 64, 1, 1, 64, 64];
    sizes.forEach((n, k) => {
      const msg = bytes(n, 13 * k);
      q.writeRange(msg, 0, n); // the queue is empty: at index 0 of its slab
      const dst = new Uint8Array(n + 1);
      expect(q.read(dst)).toBe(n);
      expectBytes(dst.subarray(0, n), msg);
    });
    // A message filling the slab past its end moves on to a new slab; small ones then go to index 0 of that one.
    const big = bytes(FIRST_SLAB + 100, 5);
    q.writeRange(big, 0, big.length);
    const all = new Uint8Array(big.length);
    expect(q.read(all)).toBe(big.length);
    expectBytes(all, big);
    for (let k = 0; k < 4; k++) {
      const msg = bytes(64, 100 + k);
      q.writeRange(msg, 0, 64);
      const first = new Uint8Array(64);
      expect(q.read(first)).toBe(64);
      expectBytes(first, msg);
      q.writeRange(msg, 0, 64);
      const head = new Uint8Array(20);
      expect(q.read(head)).toBe(20); // a partial read, then the rest from index 20
      const rest = new Uint8Array(64);
      expect(q.read(rest)).toBe(44);
      expectBytes(head, msg.subarray(0, 20));
      expectBytes(rest.subarray(0, 44), msg.subarray(20));
      q.writeRange(msg, 0, 64);
      const whole = new Uint8Array(64);
      expect(q.read(whole)).toBe(64);
      expectBytes(whole, msg);
    }
  });

  it('a reader that only copies reuses its slabs (no allocation per 64 KiB); one that takes views does not', () => {
    let allocs = 0;
    const alloc = (n: number): Uint8Array => (allocs++, new Uint8Array(n));
    const data = bytes(1 << 20, 8);
    const copying = new RecvQueue(alloc);
    const dst = new Uint8Array(40_000);
    const out: Uint8Array[] = [];
    // Writes of 30,000 bytes, reads of as many 10,000 behind them: the queue never empties until the end.
    copying.writeRange(data, 0, 10_000);
    for (let w = 10_000; w < data.length; w += 30_000) {
      copying.writeRange(data, w, Math.min(data.length, w + 30_000));
      const n = copying.read(dst.subarray(0, 30_000));
      out.push(dst.slice(0, n));
    }
    while (copying.length > 0) out.push(dst.slice(0, copying.read(dst)));
    expectBytes(concat(out), data);
    expect(allocs).toBeLessThanOrEqual(4); // a few 64 KiB slabs taking turns
    allocs = 0;
    const viewing = new RecvQueue(alloc);
    const views: Uint8Array[] = [];
    for (let w = 0; w < data.length; w += 30_000) {
      viewing.writeRange(data, w, Math.min(data.length, w + 30_000));
      views.push(viewing.readView(20_000));
    }
    while (viewing.length > 0) views.push(viewing.readView(65536));
    expectBytes(concat(views), data);
    expect(allocs).toBeGreaterThanOrEqual(16);
  });

  it('with kept views of a ring, small writes from its slots are copied at once: rewriting the slot later changes nothing queued', () => {
    const ring = new Uint8Array(256 * 1024);
    const op = fc.record({ slot: fc.integer({ min: 0, max: 31 }), n: fc.integer({ min: 1, max: 80 }), read: fc.constantFrom('none', 'copy', 'view') });
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 200 }), fc.integer({ min: 0, max: 255 }), (ops, seed) => {
        const q = new RecvQueue(undefined, new RangeViews());
        const written: number[] = [];
        const got: number[] = [];
        let fill = seed;
        for (const o of ops) {
          const at = o.slot * 2048 + 66; // a frame's payload at its slot, as a ring driver hands it over
          for (let i = 0; i < o.n; i++) ring[at + i] = fill++ & 0xff;
          expect(q.writeRange(ring, at, at + o.n)).toBe(o.n);
          for (let i = 0; i < o.n; i++) written.push(ring[at + i]!);
          ring.fill(0xee, at, at + o.n); // the driver reuses the slot
          if (o.read === 'copy') {
            const d = new Uint8Array(50);
            for (const b of d.subarray(0, q.read(d))) got.push(b);
          } else if (o.read === 'view') for (const b of q.readView(50)) got.push(b);
        }
        const left = new Uint8Array(q.length);
        q.read(left);
        for (const b of left) got.push(b);
        expect(got).toEqual(written);
      }),
      { numRuns: 100 },
    );
  });

  it('any interleaving of writes, views, copies and discards yields the bytes in order, views intact', () => {
    const op = fc.oneof(
      fc.record({ k: fc.constant('w' as const), n: fc.integer({ min: 0, max: 70_000 }) }),
      fc.record({ k: fc.constantFrom('v' as const, 'r' as const, 'd' as const), n: fc.integer({ min: 0, max: 70_000 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const q = new RecvQueue();
        const data = bytes(ops.reduce((s, o) => s + (o.k === 'w' ? o.n : 0), 0), 9);
        let w = 0;
        const got: Uint8Array[] = [];
        const kept: Array<[Uint8Array, Uint8Array]> = []; // [view, its bytes when handed out]
        for (const o of ops) {
          if (o.k === 'w') {
            q.writeRange(data, w, w + o.n);
            w += o.n;
          } else if (o.k === 'v') {
            const v = q.readView(o.n);
            kept.push([v, v.slice()]);
            got.push(v);
          } else if (o.k === 'r') {
            const d = new Uint8Array(o.n);
            got.push(d.subarray(0, q.read(d)));
          } else {
            const n = Math.min(o.n, q.length);
            const at = got.reduce((s, g) => s + g.length, 0);
            q.discard(n);
            got.push(data.subarray(at, at + n)); // what was dropped stands for itself
          }
        }
        const left = new Uint8Array(q.length);
        q.read(left);
        got.push(left);
        expectBytes(concat(got), data);
        for (const [v, copy] of kept) expectBytes(v, copy);
      }),
      { numRuns: 60 },
    );
  });
});

/** Read the whole of `data` through readView (as the API does), keeping every view; check the views at the end. */
function transferByViews(net: Net, from: TcpConnection, to: TcpConnection, data: Uint8Array): Uint8Array[] {
  const views: Uint8Array[] = [];
  let got = 0;
  let sent = 0;
  const pump = (): void => {
    if (sent < data.length) sent += from.send(net.now, data.subarray(sent));
  };
  from.onWritable = pump;
  to.onReadable = () => {
    for (;;) {
      const v = to.readView(net.now, 65536);
      if (v.length === 0) break;
      views.push(v);
      got += v.length;
    }
  };
  pump();
  net.run(() => {
    pump();
    return got >= data.length;
  }, 600_000);
  return views;
}

describe('reading a connection through views', () => {
  const cases: Array<[string, number]> = [
    ['2^32', 0xffffffff - 50_000],
    ['2^31', 0x7fffffff - 50_000],
  ];
  for (const [name, isn] of cases) {
    it(`delivers every byte once, in order, across ${name} with loss and reordering`, () => {
      const net = new Net(31, { isn: () => isn }, { isn: () => isn + 7 });
      const { client, server } = openPair(net);
      net.loss = 0.03;
      net.reorder = 0.05;
      const data = bytes(300_000, 11);
      const views = transferByViews(net, client, server, data);
      expectBytes(concat(views), data);
      expect(net.a.stats.retransmittedSegs).toBeGreaterThan(0); // losses happened: holes went through the ooo queue
      expect(views.every((v) => v.length <= 65536)).toBe(true);
    });
  }

  it('a paused reader closes the window; reading views opens it again', () => {
    const net = new Net(32, { receiveBuffer: 32 * 1024, maxReceiveBuffer: 32 * 1024 });
    const { client, server } = openPair(net);
    const data = bytes(100_000, 12);
    let sent = 0;
    const pump = (): void => {
      if (sent < data.length) sent += client.send(net.now, data.subarray(sent));
    };
    client.onWritable = pump;
    pump();
    net.run(() => server.readableLength >= 32 * 1024, 10_000);
    net.advance(1000);
    expect(server.readableLength).toBe(32 * 1024); // nothing past the window while nobody reads
    const got: Uint8Array[] = [];
    let n = 0;
    server.onReadable = () => {
      for (let v = server.readView(net.now, 4096); v.length > 0; v = server.readView(net.now, 4096)) {
        got.push(v);
        n += v.length;
      }
    };
    server.onReadable();
    net.run(() => {
      pump();
      return n >= data.length;
    }, 600_000);
    expectBytes(concat(got), data);
  });
});
