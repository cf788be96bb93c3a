/**
 * Software checksums end to end on the ethernet-like memory link (no offloads, as AF_XDP on a veth): every frame a
 * stack sends verifies with a plain RFC 1071 sum written here (not protocols/util/checksum.ts), and one byte damaged
 * in flight anywhere in a TCP data frame (IPv4 header, TCP header, payload at an even or odd offset, the last byte
 * of an odd-length segment, past a 64 KiB boundary of the link's frame memory) is dropped and counted, never
 * delivered: the stream still arrives intact, from the retransmission. With GRO and without it (the TCP layer's own
 * check). Virtual clock only.
 */
import { describe, expect, it } from 'vitest';
import type { FrameDriver } from '../../drivers/types.js';
import { makePair, pattern, tapReceive, transfer, type Pair } from './harness.js';

const ETH = 14;

/** RFC 1071 over big-endian 16-bit words, end-around carry after every add, odd byte padded: the reference. */
function rfc1071(parts: readonly (readonly number[] | Uint8Array)[]): number {
  let s = 0;
  for (const p of parts) {
    for (let i = 0; i < p.length; i += 2) {
      s += (p[i]! << 8) | (i + 1 < p.length ? p[i + 1]! : 0);
      if (s > 0xffff) s = (s & 0xffff) + 1;
    }
  }
  return s;
}

/** The frame is IPv4 carrying TCP. */
const isTcp = (f: Uint8Array): boolean => f.length >= ETH + 40 && f[12] === 0x08 && f[13] === 0x00 && f[ETH + 9] === 6;

/** Where the TCP segment of an IPv4 frame starts, and its payload. */
function layout(f: Uint8Array): { tcp: number; end: number; payload: number } {
  const ihl = (f[ETH]! & 15) * 4;
  const end = ETH + ((f[ETH + 2]! << 8) | f[ETH + 3]!);
  const tcp = ETH + ihl;
  return { tcp, end, payload: tcp + (f[tcp + 12]! >>> 4) * 4 };
}

/** Both checksums of an IPv4/TCP frame hold, by the reference sum (the pseudo-header per RFC 9293 3.1). */
function checksumsHold(f: Uint8Array): boolean {
  const { tcp, end } = layout(f);
  if (rfc1071([f.subarray(ETH, tcp)]) !== 0xffff) return false;
  const len = end - tcp;
  const pseudo = [...f.subarray(ETH + 12, ETH + 20), 0, 6, len >>> 8, len & 0xff];
  return rfc1071([pseudo, f.subarray(tcp, end)]) === 0xffff;
}

interface Seen {
  frames: number;
  /** Frames whose sums failed as the peer sent them. */
  bad: number;
  /** Offsets flipped, and how many flips the reference sum would not see (none expected). */
  flipped: number[];
  undetectable: number;
}

interface Damage {
  /** Frame offset of the byte to flip in the first TCP data frame B receives from the `nth` on (0 based), or -1 to pass it by. */
  at: (f: Uint8Array) => number;
  nth: number;
}

/**
 * Delegates to `inner`; checks every TCP frame it receives with the reference sum before anything touches it (what
 * the peer's stack sent), then flips one byte of the chosen data frame.
 */
function damaging(inner: FrameDriver, damage: Damage | undefined, seen: Seen): FrameDriver {
  let data = 0;
  return tapReceive(inner, (frame) => {
    if (!isTcp(frame)) return;
    seen.frames++;
    if (!checksumsHold(frame)) seen.bad++;
    const { payload, end } = layout(frame);
    const at = end > payload && damage !== undefined && seen.flipped.length === 0 && data++ >= damage.nth ? damage.at(frame) : -1;
    if (at >= 0) {
      frame[at]! ^= 0x5a;
      seen.flipped.push(at);
      if (checksumsHold(frame)) seen.undetectable++;
    }
  });
}

function run(damage: Damage | undefined, size: number, opts: { gro?: boolean; mtu?: number } = {}) {
  const seenB: Seen = { frames: 0, bad: 0, flipped: [], undetectable: 0 };
  const seenA: Seen = { frames: 0, bad: 0, flipped: [], undetectable: 0 };
  const tcp = { sendBuffer: 1 << 18, receiveBuffer: 1 << 18, maxReceiveBuffer: 1 << 18 };
  const p: Pair = makePair({
    mtu: opts.mtu ?? 1500,
    configA: { tcp, gro: opts.gro ?? true },
    configB: { tcp, gro: opts.gro ?? true },
    wrapA: (d) => damaging(d, undefined, seenA),
    wrapB: (d) => damaging(d, damage, seenB),
  });
  const { got } = transfer(p, size);
  expect(Array.from(got)).toEqual(Array.from(pattern(size))); // nothing damaged was delivered
  return { p, seenA, seenB };
}

const DAMAGES: [string, Damage, 'ip' | 'tcp'][] = [
  ['an IPv4 header byte (TTL)', { nth: 3, at: () => ETH + 8 }, 'ip'],
  ['an IPv4 address byte', { nth: 4, at: () => ETH + 13 }, 'ip'],
  ['a TCP header byte (window)', { nth: 3, at: (f) => layout(f).tcp + 15 }, 'tcp'],
  ['a TCP option byte (TSval)', { nth: 2, at: (f) => layout(f).tcp + 27 }, 'tcp'],
  ['the payload at an even offset', { nth: 5, at: (f) => layout(f).payload + 100 }, 'tcp'],
  ['the payload at an odd offset', { nth: 5, at: (f) => layout(f).payload + 333 }, 'tcp'],
  ['the last payload byte', { nth: 6, at: (f) => layout(f).end - 1 }, 'tcp'],
];

describe('software checksums on the ethernet-like memory link', () => {
  it('every frame either stack sends verifies with a plain RFC 1071 sum', () => {
    const { seenA, seenB } = run(undefined, 300_001);
    expect(seenB.frames).toBeGreaterThan(200); // data segments, the last one odd-length
    expect(seenA.frames).toBeGreaterThan(5); // ACKs (one per receive batch)
    expect(seenA.bad + seenB.bad).toBe(0);
  });

  for (const gro of [true, false]) {
    for (const [what, damage, layer] of DAMAGES) {
      it(`drops and counts a frame with ${what} damaged (${gro ? 'GRO' : 'no GRO'})`, () => {
        const { p, seenB } = run(damage, 60_001, { gro });
        expect(seenB.flipped).toHaveLength(1);
        expect(seenB.bad + seenB.undetectable).toBe(0);
        const st = p.b.stats;
        if (layer === 'ip') {
          expect(st.ipv4.badChecksum).toBe(1);
          expect(st.tcp!.badChecksum).toBe(0);
        } else {
          expect(st.ipv4.badChecksum).toBe(0);
          expect(st.tcp!.badChecksum).toBe(1);
          if (gro) expect(st.gro!.badChecksum).toBe(1);
        }
      });
    }
  }

  it('drops a 64 KiB-class segment damaged just before, at and after a 64 KiB boundary of the frame\'s memory', () => {
    // MTU 65535: a full segment's payload always spans a multiple of 65536 in the buffer the link carves frames from.
    for (const k of [-1, 0, 1]) {
      const at = (f: Uint8Array): number => {
        const { payload, end } = layout(f);
        const next = (Math.floor((f.byteOffset + payload) / 65536) + 1) * 65536 - f.byteOffset + k;
        return next < end ? next : -1;
      };
      const { p, seenB } = run({ nth: 0, at }, 400_001, { mtu: 65535 });
      expect(seenB.flipped).toHaveLength(1);
      expect(seenB.bad + seenB.undetectable).toBe(0);
      expect(p.b.stats.tcp!.badChecksum).toBe(1);
    }
  });
});
