import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { memoryLink, memorySwitch } from '../../drivers/memory/index.js';
import { SOFTWARE_CHECKSUMS, type FrameDriver } from '../../drivers/types.js';
import { BywayError } from '../../protocols/util/errors.js';
import { BROADCAST, ethFrame, frameId, recvAll, send } from './helpers.js';

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(BywayError);
    return (e as BywayError).code;
  }
  return undefined;
}

describe('memoryLink', () => {
  it('has the documented defaults', () => {
    const [a, b] = memoryLink();
    expect(a.caps).toEqual({ medium: 'ethernet', mtu: 1500, maxBatch: 64, checksum: SOFTWARE_CHECKSUMS });
    expect(a.hwAddress).toEqual(Uint8Array.of(2, 0, 0, 0, 0, 1));
    expect(b.hwAddress).toEqual(Uint8Array.of(2, 0, 0, 0, 0, 2));
    const [c] = memoryLink({ medium: 'ip', mtu: 9000 });
    expect(c.caps.medium).toBe('ip');
    expect(c.hwAddress).toBeUndefined();
  });

  it('delivers frames both ways, in order, with stats', () => {
    const [a, b] = memoryLink();
    const fa = [1, 2, 3].map((i) => ethFrame(b.hwAddress!, a.hwAddress!, i, 46 + i));
    const fb = [7, 8].map((i) => ethFrame(a.hwAddress!, b.hwAddress!, i));
    for (const f of fa) send(a, 0, f);
    for (const f of fb) send(b, 0, f);
    expect(recvAll(b, 0)).toEqual(fa);
    expect(recvAll(a, 0)).toEqual(fb);
    expect(recvAll(a, 0)).toEqual([]);
    const bytesA = fa.reduce((s, f) => s + f.length, 0);
    expect(a.stats).toMatchObject({ txFrames: 3, txBytes: bytesA, rxFrames: 2, rxDropped: 0 });
    expect(b.stats).toMatchObject({ rxFrames: 3, rxBytes: bytesA, txFrames: 2 });
  });

  it('commits a shrunk length and calls the peer ready callback from txCommit', () => {
    const [a, b] = memoryLink();
    let readyB = 0;
    let readyA = 0;
    b.setReadyCallback(() => readyB++);
    a.setReadyCallback(() => readyA++);
    const buf = a.txReserve(100)!;
    expect(buf.length).toBe(100);
    buf.fill(9);
    a.txCommit(0, 60);
    expect(readyB).toBe(1);
    expect(readyA).toBe(0);
    const got = recvAll(b, 0);
    expect(got).toHaveLength(1);
    expect(got[0]).toEqual(new Uint8Array(60).fill(9));
  });

  it('hands at most min(max, maxBatch) frames per receive()', () => {
    const [a, b] = memoryLink({ maxBatch: 4 });
    for (let i = 0; i < 10; i++) send(a, 0, ethFrame(BROADCAST, a.hwAddress!, i));
    const batches: number[] = [];
    const ids: number[] = [];
    for (;;) {
      const n = b.receive(0, 100, (f) => ids.push(frameId(f)));
      if (n === 0) break;
      batches.push(n);
    }
    expect(batches).toEqual([4, 4, 2]);
    expect(ids).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    send(a, 0, ethFrame(BROADCAST, a.hwAddress!, 1));
    send(a, 0, ethFrame(BROADCAST, a.hwAddress!, 2));
    expect(b.receive(0, 1, () => {})).toBe(1);
    expect(b.queued).toBe(1);
  });

  it('drops beyond queueLimit and counts rxDropped', () => {
    const [a, b] = memoryLink({ queueLimit: 5 });
    for (let i = 0; i < 8; i++) send(a, 0, ethFrame(BROADCAST, a.hwAddress!, i));
    expect(b.stats.rxDropped).toBe(3);
    expect(a.stats.txFrames).toBe(8);
    expect(recvAll(b, 0).map(frameId)).toEqual([0, 1, 2, 3, 4]);
    // Room again after draining.
    send(a, 0, ethFrame(BROADCAST, a.hwAddress!, 42));
    expect(recvAll(b, 0).map(frameId)).toEqual([42]);
  });

  it('reuses pooled buffers without corrupting frames still queued (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.integer({ min: 1, max: 1514 }), fc.constant(-1)), { minLength: 1, maxLength: 200 }),
        (ops) => {
          // Positive op: send a frame of that length; -1: receive one frame. Model is a FIFO of expected bytes.
          const [a, b] = memoryLink({ queueLimit: 16 });
          const model: Uint8Array[] = [];
          let id = 0;
          for (const op of ops) {
            if (op > 0) {
              const f = new Uint8Array(op);
              for (let i = 0; i < op; i++) f[i] = (id * 7 + i * 13) & 0xff;
              id++;
              send(a, 0, f);
              if (model.length < 16) model.push(f);
            } else {
              const got: Uint8Array[] = [];
              b.receive(0, 1, (f) => {
                got.push(f.slice());
                f.fill(0xee); // scribble on the view: must not affect anything else
              });
              const want = model.shift();
              expect(got).toEqual(want === undefined ? [] : [want]);
            }
          }
          expect(recvAll(b, 0)).toEqual(model);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('allocates nothing in steady state (pool reuse)', () => {
    const [a, b] = memoryLink();
    // Frames share the link's one ArrayBuffer: a buffer is told apart by its ArrayBuffer and offset.
    const buffers: ArrayBufferLike[] = [];
    const seen = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const buf = a.txReserve(64)!;
      if (!buffers.includes(buf.buffer)) buffers.push(buf.buffer);
      seen.add(`${buffers.indexOf(buf.buffer)}:${buf.byteOffset}`);
      buf.fill(i & 0xff);
      a.txCommit(i, 64);
      b.receive(i, 1, (f) => expect(f[0]).toBe(i & 0xff));
    }
    // One buffer in flight at a time: the pool keeps handing back the same one or two buffers.
    expect(seen.size).toBeLessThanOrEqual(2);
  });

  it('carves frames from one ArrayBuffer, 64-byte aligned, as a ring or UMEM (the checksum\'s word view is cached per ArrayBuffer)', () => {
    const [a, b] = memoryLink({ queueLimit: 4 });
    const frames: Uint8Array[] = [];
    for (const [from, k] of [[a, 0], [b, 1]] as const) {
      for (let i = 0; i < 4; i++) {
        const f = from.txReserve(1514)!;
        f.fill(k * 4 + i);
        frames.push(f);
        from.txCommit(0, 1514);
      }
    }
    expect(new Set(frames.map((f) => f.buffer)).size).toBe(1);
    expect(new Set(frames.map((f) => f.byteOffset)).size).toBe(8);
    for (const f of frames) expect(f.byteOffset % 64).toBe(0);
    // Both queues are full (8 frames in flight); each frame still holds what was written into it.
    expect(recvAll(b, 0).map((f) => f[0])).toEqual([0, 1, 2, 3]);
    expect(recvAll(a, 0).map((f) => f[1513])).toEqual([4, 5, 6, 7]);
  });


  it('lends and delivers arena frames as ranges of one view, as a ring driver does; a buffer past the arena whole', () => {
    const [a, b] = memoryLink({ queueLimit: 2 }); // an arena of 2 * 2 + 2 = 6 frames
    const lease = { buf: new Uint8Array(0), start: 0 };
    const lentViews = new Set<Uint8Array>();
    const got: Array<{ view: Uint8Array; start: number; end: number; first: number; last: number }> = [];
    const drain = (d: FrameDriver): void => {
      d.receiveRanges!(0, 64, (buf, start, end) => {
        got.push({ view: buf, start, end, first: buf[start]!, last: buf[end - 1]! });
      });
    };
    // Eight frames before any is received: six fill the arena (two queued each way, one reserved per side at a
    // time), the rest (past the arena's reserve) are buffers of their own.
    for (let i = 0; i < 8; i++) {
      const from = i % 2 === 0 ? a : b;
      expect(from.txLend!(100 + i, lease)).toBe(true);
      lentViews.add(lease.buf);
      lease.buf.fill(i, lease.start, lease.start + 100 + i);
      from.txCommit(0, 100 + i);
      if (i === 3) {
        drain(a);
        drain(b);
      }
    }
    drain(a);
    drain(b);
    // Every frame arrived whole with its own bytes, whichever way it was handed over.
    expect(got.map((g) => [g.end - g.start, g.first, g.last]).sort((x, y) => x[1]! - y[1]!)).toEqual(
      Array.from({ length: 8 }, (_, i) => [100 + i, i, i]),
    );
    // Arena frames: ranges of one view at distinct 64-byte aligned starts; the same view was lent on transmit.
    const arenaView = got[0]!.view;
    const ranged = got.filter((g) => g.view === arenaView);
    expect(ranged.length).toBeGreaterThanOrEqual(4);
    expect(arenaView.byteOffset).toBe(0);
    expect(arenaView.byteLength).toBeGreaterThanOrEqual(6 * 1536);
    for (const g of ranged) expect(g.start % 64).toBe(0);
    expect(lentViews.has(arenaView)).toBe(true);
    // The receive() form still hands each frame as a view of exactly its bytes.
    a.txReserve(70)!.fill(9);
    a.txCommit(0, 70);
    const frames = recvAll(b, 0);
    expect(frames.map((f) => [f.length, f[0], f[69]])).toEqual([[70, 9, 9]]);
  });
  it('throws stable codes for misuse and after close', () => {
    const [a, b] = memoryLink();
    expect(code(() => a.txCommit(0, 10))).toBe('ERR_INVALID_STATE');
    expect(code(() => a.txReserve(1519))).toBe('ERR_FRAME_TOO_BIG');
    expect(a.txReserve(1518)).not.toBeNull();
    expect(code(() => a.txCommit(0, 1519))).toBe('ERR_INVALID_ARG_VALUE');
    expect(code(() => a.txReserve(-1))).toBe('ERR_INVALID_ARG_VALUE');
    const [ip] = memoryLink({ medium: 'ip', mtu: 1500 });
    expect(code(() => ip.txReserve(1501))).toBe('ERR_FRAME_TOO_BIG');
    a.close();
    a.close(); // idempotent
    const uses: Array<(d: FrameDriver) => unknown> = [
      (d) => d.receive(0, 1, () => {}),
      (d) => d.txReserve(10),
      (d) => d.txCommit(0, 10),
      (d) => d.flush(0),
      (d) => d.setReadyCallback(() => {}),
    ];
    for (const use of uses) expect(code(() => use(a))).toBe('ERR_DRIVER_CLOSED');
    expect(a.pollAt(0)).toBeUndefined(); // a closed driver needs no attention (and pollAt never throws)
    a.setReadyCallback(null); // clearing the callback after close is allowed
    // The peer still works; its frames to the closed end are dropped and counted.
    send(b, 0, ethFrame(BROADCAST, b.hwAddress!, 1));
    expect(b.stats.txDropped).toBe(1);
  });

  it('a sink may transmit on the same driver (reply from inside receive)', () => {
    const [a, b] = memoryLink();
    for (let i = 0; i < 3; i++) send(a, 0, ethFrame(b.hwAddress!, a.hwAddress!, i));
    b.receive(0, 10, (f) => send(b, 0, ethFrame(a.hwAddress!, b.hwAddress!, frameId(f) + 100)));
    expect(recvAll(a, 0).map(frameId)).toEqual([100, 101, 102]);
  });

  it('a received view stays intact while the sink transmits (its buffer is not back in the pool yet)', () => {
    const [a, b] = memoryLink();
    const orig = ethFrame(b.hwAddress!, a.hwAddress!, 5);
    send(a, 0, orig);
    b.receive(0, 1, (f) => {
      send(b, 0, new Uint8Array(orig.length).fill(0xaa)); // takes a pool buffer and overwrites it
      expect(f).toEqual(orig);
    });
    expect(recvAll(a, 0)).toEqual([new Uint8Array(orig.length).fill(0xaa)]);
  });
});

describe('memorySwitch', () => {
  function setup(opts = {}) {
    const sw = memorySwitch(opts);
    const ports = [sw.port(), sw.port(), sw.port(), sw.port()];
    return { sw, ports, mac: ports.map((p) => p.hwAddress!) };
  }
  const drain = (ports: FrameDriver[], now = 0) => ports.map((p) => recvAll(p, now).map(frameId));

  it('gives each port its own MAC', () => {
    const { mac } = setup();
    expect(new Set(mac.map((m) => m.join(':'))).size).toBe(4);
  });

  it('floods broadcast to every other port, with copies per extra port', () => {
    const { sw, ports, mac } = setup();
    send(ports[0]!, 0, ethFrame(BROADCAST, mac[0]!, 1));
    expect(drain(ports)).toEqual([[], [1], [1], [1]]);
    expect(sw.stats).toMatchObject({ flooded: 1, floodCopies: 2, learned: 1 });
    // multicast (I/G bit) floods too
    send(ports[1]!, 0, ethFrame(Uint8Array.of(0x01, 0, 0x5e, 0, 0, 1), mac[1]!, 2));
    expect(drain(ports)).toEqual([[2], [], [2], [2]]);
  });

  it('learns source MACs and forwards known unicast to one port only', () => {
    const { sw, ports, mac } = setup();
    // 0 -> 1: unknown, flooded; the switch learns mac0 on port 0
    send(ports[0]!, 0, ethFrame(mac[1]!, mac[0]!, 1));
    expect(drain(ports)).toEqual([[], [1], [1], [1]]);
    expect(sw.lookup(mac[0]!, 0)).toBe(0);
    // 1 -> 0: known, forwarded to port 0 only; learns mac1 on port 1
    send(ports[1]!, 0, ethFrame(mac[0]!, mac[1]!, 2));
    expect(drain(ports)).toEqual([[2], [], [], []]);
    // 0 -> 1: now known
    send(ports[0]!, 0, ethFrame(mac[1]!, mac[0]!, 3));
    expect(drain(ports)).toEqual([[], [3], [], []]);
    expect(sw.stats).toMatchObject({ forwarded: 2, flooded: 1 });
    // a frame to a MAC on the port it came from is filtered
    send(ports[0]!, 0, ethFrame(mac[0]!, mac[0]!, 4));
    expect(drain(ports)).toEqual([[], [], [], []]);
    expect(sw.stats.filtered).toBe(1);
    // a station that moves is relearned on its new port
    send(ports[2]!, 0, ethFrame(BROADCAST, mac[1]!, 5));
    drain(ports);
    send(ports[0]!, 0, ethFrame(mac[1]!, mac[0]!, 6));
    expect(drain(ports)).toEqual([[], [], [6], []]);
  });

  it('ages entries out after ageingMs of silence', () => {
    const { sw, ports, mac } = setup({ ageingMs: 1000 });
    send(ports[1]!, 0, ethFrame(BROADCAST, mac[1]!, 1));
    drain(ports);
    send(ports[0]!, 999, ethFrame(mac[1]!, mac[0]!, 2));
    expect(drain(ports)).toEqual([[], [2], [], []]);
    expect(sw.lookup(mac[1]!, 999)).toBe(1);
    expect(sw.lookup(mac[1]!, 1000)).toBeUndefined();
    send(ports[0]!, 1000, ethFrame(mac[1]!, mac[0]!, 3));
    expect(drain(ports)).toEqual([[], [3], [3], [3]]);
    expect(sw.stats.aged).toBeGreaterThanOrEqual(1);
  });

  it('caps the database, evicting the least recently seen entry', () => {
    const { sw, ports, mac } = setup({ maxEntries: 2 });
    send(ports[0]!, 0, ethFrame(BROADCAST, mac[0]!, 1));
    send(ports[1]!, 1, ethFrame(BROADCAST, mac[1]!, 2));
    send(ports[0]!, 2, ethFrame(BROADCAST, mac[0]!, 3)); // refresh mac0: mac1 is now the oldest
    send(ports[2]!, 3, ethFrame(BROADCAST, mac[2]!, 4)); // evicts mac1
    drain(ports);
    expect(sw.fdbSize).toBe(2);
    expect(sw.stats.evicted).toBe(1);
    expect(sw.lookup(mac[1]!, 3)).toBeUndefined();
    expect(sw.lookup(mac[0]!, 3)).toBe(0);
    send(ports[3]!, 4, ethFrame(mac[1]!, mac[3]!, 5)); // mac1 unknown again: flooded
    expect(drain(ports)).toEqual([[5], [5], [5], []]);
  });

  it('drops runts and stops delivering to closed ports', () => {
    const { sw, ports, mac } = setup();
    send(ports[0]!, 0, new Uint8Array(10));
    expect(sw.stats.runts).toBe(1);
    send(ports[1]!, 0, ethFrame(BROADCAST, mac[1]!, 1));
    drain(ports);
    ports[1]!.close();
    expect(sw.lookup(mac[1]!, 0)).toBeUndefined();
    send(ports[0]!, 0, ethFrame(mac[1]!, mac[0]!, 2));
    expect(drain([ports[0]!, ports[2]!, ports[3]!])).toEqual([[], [2], [2]]);
  });

  it('keeps flooded copies independent (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 14, max: 1514 })), { maxLength: 60 }), (sends) => {
        const sw = memorySwitch();
        const ps = [sw.port(), sw.port(), sw.port()];
        const want: Uint8Array[][] = [[], [], []];
        sends.forEach(([from, len], id) => {
          const f = ethFrame(BROADCAST, ps[from]!.hwAddress!, id, len - 14);
          send(ps[from]!, 0, f);
          for (let i = 0; i < 3; i++) if (i !== from) want[i]!.push(f);
        });
        const got = ps.map((p) => {
          const out: Uint8Array[] = [];
          while (p.receive(0, 5, (f) => { out.push(f.slice()); f.fill(0); }) > 0);
          return out;
        });
        expect(got).toEqual(want);
      }),
      { numRuns: 50 },
    );
  });
});
