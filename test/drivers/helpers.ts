import type { FrameDriver } from '../../drivers/types.js';

/** Send one frame through a driver: reserve, write, commit. */
export function send(d: FrameDriver, now: number, frame: Uint8Array): void {
  const buf = d.txReserve(frame.length);
  if (buf === null) throw new Error('txReserve returned null');
  buf.set(frame);
  d.txCommit(now, frame.length);
}

/** Receive up to `max` frames, copying each (views are valid only during the sink call). */
export function recvAll(d: FrameDriver, now: number, max = 1 << 30): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (;;) {
    const n = d.receive(now, max - out.length, (f) => out.push(f.slice()));
    if (n === 0 || out.length >= max) return out;
  }
}

/** An Ethernet frame dst, src, ethertype 0x88b5 (local experimental) and a payload tagging it with `id`. */
export function ethFrame(dst: Uint8Array, src: Uint8Array, id: number, payloadLen = 46): Uint8Array {
  const f = new Uint8Array(14 + Math.max(payloadLen, 4));
  f.set(dst, 0);
  f.set(src, 6);
  f[12] = 0x88;
  f[13] = 0xb5;
  f[14] = id >>> 24;
  f[15] = (id >>> 16) & 0xff;
  f[16] = (id >>> 8) & 0xff;
  f[17] = id & 0xff;
  for (let i = 18; i < f.length; i++) f[i] = (id * 31 + i) & 0xff;
  return f;
}

export function frameId(f: Uint8Array): number {
  return ((f[14]! << 24) | (f[15]! << 16) | (f[16]! << 8) | f[17]!) >>> 0;
}

export const BROADCAST = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
