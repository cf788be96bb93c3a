/**
 * NativeRingDriver (drivers/native/ring-driver.ts, rx-ring.ts) over a fake addon: the batch the spin takes.
 * rxWait with `max` takes the ready frames into the control block, and the next receive hands them over without
 * calling rxBatch, releasing them once, after the last one; a receive asking fewer frames than were taken gets
 * them over several calls; a throwing sink still releases; event mode's pollAt answers `now` while frames are
 * held; in busy mode a batch is left for the addon's next receive call to release (no rxRelease call). No kernel,
 * no clock.
 */
import { describe, expect, it } from 'vitest';
import { NativeRingDriver } from '../../drivers/native/ring-driver.js';
import { SOFTWARE_CHECKSUMS } from '../../drivers/types.js';
import { fakeAddon, fakeOpenInfo, RX_DESC } from '../helpers/fake-addon.js';

const MAX_BATCH = 8;
const FRAME_AT = 1024;
const FRAME_STEP = 128;

/** A fake ring of `ready` frames (frame i at FRAME_AT + i * FRAME_STEP, i + 60 bytes, its first byte i). */
function rig(busyPoll: boolean) {
  const mem = new ArrayBuffer(1 << 16);
  const bytes = new Uint8Array(mem);
  const info = fakeOpenInfo(mem, MAX_BATCH, 16);
  const words = new Uint32Array(info.ctl);
  const calls = { rxBatch: 0, rxRelease: 0, rxWait: 0 };
  const ring = { ready: 0, next: 0, held: 0 };
  const fill = (max: number): number => {
    ring.held = 0; // as the addon: a batch left unreleased goes back first
    const n = Math.min(max, ring.ready);
    for (let i = 0; i < n; i++) {
      const k = ring.next + i;
      words[RX_DESC + 2 * i] = FRAME_AT + k * FRAME_STEP;
      words[RX_DESC + 2 * i + 1] = 60 + k;
      bytes[FRAME_AT + k * FRAME_STEP] = k;
    }
    ring.ready -= n;
    ring.next += n;
    ring.held = n;
    return n;
  };
  const native = fakeAddon({
    rxBatch: (_h, max) => (calls.rxBatch++, fill(max)),
    rxWait: (_h, _us, max) => {
      calls.rxWait++;
      ring.held = 0; // the previous batch goes back first
      if (ring.ready === 0) return 0;
      return max ? fill(max) : 1;
    },
    rxRelease: () => {
      calls.rxRelease++;
      ring.held = 0;
    },
    rxPending: () => (ring.ready > 0 ? 1 : 0),
  });
  const caps = { medium: 'ethernet' as const, mtu: 1500, maxBatch: MAX_BATCH, checksum: SOFTWARE_CHECKSUMS };
  const d = new NativeRingDriver(native, info, caps, new Uint8Array(6), { busyPoll });
  return { d, calls, ring };
}

/** What receiveRanges handed over: each frame's first byte and length. */
function take(d: NativeRingDriver, max: number): { n: number; got: [number, number][] } {
  const got: [number, number][] = [];
  const n = d.receiveRanges(0, max, (buf, start, end) => got.push([buf[start]!, end - start]));
  return { n, got };
}

describe('NativeRingDriver: the spin hands back the ready batch', () => {
  it('a wait that finds frames takes them, and the next receive hands them over without rxBatch', () => {
    const { d, calls, ring } = rig(false);
    expect(d.wait(0, 50)).toBe(false); // nothing there: nothing taken
    ring.ready = 3;
    expect(d.wait(0, 50)).toBe(true);
    expect(calls).toEqual({ rxBatch: 0, rxRelease: 0, rxWait: 2 });
    const r = take(d, 64);
    expect(r.n).toBe(3);
    expect(r.got).toEqual([
      [0, 60],
      [1, 61],
      [2, 62],
    ]);
    expect(calls).toEqual({ rxBatch: 0, rxRelease: 1, rxWait: 2 }); // one release for the batch, no rxBatch
    expect(ring.held).toBe(0);
    expect(d.stats.rxFrames).toBe(3);
    // The next receive asks the ring again.
    ring.ready = 1;
    expect(take(d, 64).got).toEqual([[3, 63]]);
    expect(calls.rxBatch).toBe(1);
  });

  it('a receive asking fewer frames than the spin took gets them over several calls, released after the last', () => {
    const { d, calls, ring } = rig(false);
    ring.ready = 5;
    expect(d.wait(0, 50)).toBe(true);
    expect(take(d, 2).got.map((f) => f[0])).toEqual([0, 1]);
    expect(calls.rxRelease).toBe(0); // the rest of the batch is still in the ring's slots
    expect(ring.held).toBe(5);
    expect(d.wait(0, 50)).toBe(true); // frames are held: no second spin
    expect(calls.rxWait).toBe(1);
    expect(take(d, 2).got.map((f) => f[0])).toEqual([2, 3]);
    expect(take(d, 2).got.map((f) => f[0])).toEqual([4]);
    expect(calls).toEqual({ rxBatch: 0, rxRelease: 1, rxWait: 1 });
  });

  it('a sink that throws still gives the held batch back', () => {
    const { d, calls, ring } = rig(false);
    ring.ready = 4;
    d.wait(0, 50);
    expect(() =>
      d.receiveRanges(0, 2, () => {
        throw new Error('sink');
      }),
    ).toThrow('sink');
    expect(calls.rxRelease).toBe(1);
    expect(ring.held).toBe(0);
    ring.ready = 1;
    expect(take(d, 64).n).toBe(1); // the ring is asked again, not the dropped batch
    expect(calls.rxBatch).toBe(1);
  });

  it('in event mode, pollAt answers now while a taken batch waits, and nothing after', () => {
    const { d, ring } = rig(false);
    expect(d.pollAt(5)).toBeUndefined();
    ring.ready = 2;
    expect(d.wait(0, 50)).toBe(true);
    expect(ring.ready).toBe(0); // taken off the ring
    expect(d.pollAt(5)).toBe(5);
    expect(take(d, 64).n).toBe(2);
    expect(d.pollAt(5)).toBeUndefined();
  });

  it('in busy mode, the batch is released by the next receive call into the addon, not by rxRelease', () => {
    const { d, calls, ring } = rig(true);
    ring.ready = 2;
    expect(d.wait(0, 50)).toBe(true);
    expect(take(d, 64).n).toBe(2);
    expect(calls.rxRelease).toBe(0);
    expect(ring.held).toBe(2); // still the driver's until the next call
    expect(d.wait(0, 50)).toBe(false); // the next spin gives it back first
    expect(ring.held).toBe(0);
    ring.ready = 1;
    expect(take(d, 64).n).toBe(1);
    expect(d.receiveRanges(0, 64, () => {})).toBe(0);
    expect(ring.held).toBe(0);
    expect(calls).toEqual({ rxBatch: 2, rxRelease: 0, rxWait: 2 });
    // A sink that throws gives the batch back at once, busy or not.
    ring.ready = 1;
    expect(() =>
      d.receiveRanges(0, 64, () => {
        throw new Error('sink');
      }),
    ).toThrow('sink');
    expect(calls.rxRelease).toBe(1);
  });
});
