/**
 * The raw-IP driver's native transmit path (drivers/raw-ip/native-tx.ts) against a fake addon whose socket takes a
 * set number of packets per submit, as a raw socket's send buffer does: what does not fit stays queued in order, is
 * not retried against the full socket, goes first once the socket is writable, and the stack is woken for it.
 */
import { describe, expect, it } from 'vitest';
import { RawIpNativeTx, type RawIpNative, type RawIpNativeInfo } from '../../drivers/raw-ip/native-tx.js';
import { RawIpDriver } from '../../drivers/raw-ip/index.js';
import type { NativeHandle } from '../../drivers/native/index.js';

const SLOT = 128;
const CTL_WORDS = 16;

/** A fake addon: `room` packets fit in the socket per submit (Infinity: all); what it sends is recorded. */
class FakeRawIp implements RawIpNative {
  room = Infinity;
  submits = 0;
  waits = 0;
  readonly sent: number[] = [];
  readonly mem: ArrayBuffer;
  readonly ctl: Uint32Array;
  readonly info: RawIpNativeInfo;
  private readonly free: number[] = [];
  private onReady: (() => void) | null = null;

  constructor(slots: number, readonly batch: number) {
    this.mem = new ArrayBuffer(slots * SLOT);
    const txSlotIdx = CTL_WORDS + 2;
    const txOutIdx = txSlotIdx + batch;
    const ctl = new ArrayBuffer(4 * (txOutIdx + 3 * batch));
    this.ctl = new Uint32Array(ctl);
    for (let i = slots - 1; i >= 0; i--) this.free.push(i);
    this.info = { handle: {} as NativeHandle, mem: this.mem, ctl, txSlotIdx, txOutIdx, txBatch: batch, frameCap: SLOT };
  }

  txAlloc(_h: NativeHandle, max: number): number {
    let n = 0;
    while (n < max && this.free.length > 0) this.ctl[this.info.txSlotIdx + n++] = this.free.pop()! * SLOT;
    return n;
  }

  txSubmit(_h: NativeHandle, n: number): number {
    this.submits++;
    const bytes = new Uint8Array(this.mem);
    let k = 0;
    for (; k < n && k < this.room; k++) {
      const off = this.ctl[this.info.txOutIdx + 2 * k]!;
      this.sent.push(bytes[off + 19]!); // the packet's tag: the last byte of its destination address
      this.free.push(off / SLOT);
    }
    if (this.room !== Infinity) this.room -= k;
    return k;
  }

  txWait(): void {
    this.waits++;
  }

  setReady(_h: NativeHandle, cb: (() => void) | null): void {
    this.onReady = cb;
  }

  close(): void {}

  /** The socket drained: the addon's one-shot writable callback. */
  writable(room = Infinity): void {
    this.room = room;
    this.onReady?.();
  }
}

/** A 20-byte IPv4 header whose destination's last byte is `tag`, written at `off` of `buf`. */
function writePacket(buf: Uint8Array, off: number, tag: number): void {
  buf.fill(0, off, off + 20);
  buf[off] = 0x45;
  buf[off + 19] = tag;
}

describe('raw IP native transmit: backpressure from a full socket', () => {
  it('keeps what did not fit, in order, submits nothing more until writable, then sends it first', () => {
    const fake = new FakeRawIp(64, 16);
    let wakes = 0;
    const tx = new RawIpNativeTx(fake, fake.info, () => wakes++);
    fake.room = 3;
    for (let tag = 0; tag < 10; tag++) {
      const off = tx.reserve();
      expect(off).toBeGreaterThanOrEqual(0);
      writePacket(tx.bytes, off, tag);
      tx.commit(off, 20);
    }
    tx.flush();
    expect(fake.sent).toEqual([0, 1, 2]);
    expect(tx.backlog).toBe(7);
    expect(fake.waits).toBe(1);
    expect(tx.txWaits).toBe(1);
    // Polls before the socket drains: no submit against it (no system call per poll), no second wait.
    const submits = fake.submits;
    for (let i = 0; i < 5; i++) tx.flush();
    expect(fake.submits).toBe(submits);
    expect(fake.waits).toBe(1);
    // More frames queue behind the backlog.
    const off = tx.reserve();
    writePacket(tx.bytes, off, 10);
    tx.commit(off, 20);
    fake.writable();
    expect(wakes).toBe(1);
    tx.flush();
    expect(fake.sent).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(tx.backlog).toBe(0);
  });

  it('answers no buffer while the submission area is full and the socket is full, and resumes after the wake-up', () => {
    const fake = new FakeRawIp(64, 4);
    const tx = new RawIpNativeTx(fake, fake.info, () => {});
    fake.room = 0;
    for (let tag = 0; tag < 4; tag++) {
      const off = tx.reserve();
      writePacket(tx.bytes, off, tag);
      tx.commit(off, 20); // the fourth fills the batch and submits: nothing fits
    }
    expect(tx.backlog).toBe(4);
    expect(tx.reserve()).toBe(-1);
    fake.writable(2);
    const off = tx.reserve(); // the area was full: this flushes first, and two go
    expect(off).toBeGreaterThanOrEqual(0);
    expect(fake.sent).toEqual([0, 1]);
    expect(tx.backlog).toBe(2);
  });

  it('through the driver: a full socket wakes the stack when it drains, and nothing is dropped', () => {
    const fake = new FakeRawIp(8, 8);
    const driver = new RawIpDriver([], undefined, 16, 8, SLOT, 8, undefined, (wake) => new RawIpNativeTx(fake, fake.info, wake));
    let ready = 0;
    driver.setReadyCallback(() => ready++);
    fake.room = 5;
    let tag = 0;
    for (;;) {
      const b = driver.txReserve(20);
      if (b === null) break; // 8 slots: 5 sent at the batch's end, 3 held
      writePacket(b, 0, tag++);
      driver.txCommit(0, 20);
    }
    driver.flush(0);
    expect(fake.sent.length).toBe(5);
    expect(driver.nativeTx!.backlog).toBeGreaterThan(0);
    fake.writable();
    expect(ready).toBe(1);
    driver.flush(0);
    expect(fake.sent).toEqual(Array.from({ length: tag }, (_, i) => i));
    expect(driver.stats.txDropped).toBe(0);
    expect(driver.stats.txFrames).toBe(tag);
    driver.close();
  });
});
