/**
 * The TCP parts the connection and the layer use (byte ring, RTT estimator, out-of-order queue, congestion
 * control, ISN, SYN cookies), imported from one place. The parts helper is writing the real modules
 * (byte-ring.ts, rtt.ts, ooo-queue.ts, cc/, isn.ts, syn-cookie.ts); until they land, this file holds small
 * stand-ins written to the same contract so the core can be built and tested. Switching is a matter of replacing
 * this file's body with re-exports.
 */

export { ByteRing } from './byte-ring.js';
export { RttEstimator, type RtoOptions } from './rtt.js';

// ------------------------------------------------------------------------------------------------ OOO queue
function lt(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}
function le(a: number, b: number): boolean {
  return ((a - b) | 0) <= 0;
}
export class OutOfOrderQueue {
  private segs: Array<{ seq: number; data: Uint8Array }> = [];
  private total = 0;
  private lastSeq = 0;
  constructor(private readonly limitBytes: number) {}
  get bytes(): number {
    return this.total;
  }
  get segments(): number {
    return this.segs.length;
  }
  insert(seq: number, data: Uint8Array): boolean {
    // Pieces of [seq, seq+len) not covered by kept segments (the earlier-received bytes win).
    const pieces: Array<{ seq: number; data: Uint8Array }> = [];
    let cur = seq;
    let rest = data;
    for (const s of this.segs) {
      if (rest.length === 0) break;
      const sEnd = (s.seq + s.data.length) >>> 0;
      if (le(sEnd, cur)) continue;
      const curEnd = (cur + rest.length) >>> 0;
      if (le(curEnd, s.seq)) break;
      if (lt(cur, s.seq)) {
        const n = (s.seq - cur) | 0;
        pieces.push({ seq: cur, data: rest.subarray(0, n) });
        rest = rest.subarray(n);
        cur = s.seq;
      }
      const skip = Math.min(rest.length, (sEnd - cur) | 0);
      rest = rest.subarray(skip);
      cur = (cur + skip) >>> 0;
    }
    if (rest.length > 0) pieces.push({ seq: cur, data: rest });
    let add = 0;
    for (const p of pieces) add += p.data.length;
    if (this.total + add > this.limitBytes) return false;
    for (const p of pieces) {
      const copy = p.data.slice();
      let i = this.segs.length;
      while (i > 0 && lt(p.seq, this.segs[i - 1]!.seq)) i--;
      this.segs.splice(i, 0, { seq: p.seq, data: copy });
    }
    this.total += add;
    this.lastSeq = seq;
    return true;
  }
  drain(rcvNxt: number, sink: (data: Uint8Array) => number): number {
    while (this.segs.length > 0) {
      const s = this.segs[0]!;
      const end = (s.seq + s.data.length) >>> 0;
      if (le(end, rcvNxt)) {
        this.total -= s.data.length;
        this.segs.shift();
        continue;
      }
      if (lt(rcvNxt, s.seq)) break;
      const off = (rcvNxt - s.seq) | 0;
      const took = sink(s.data.subarray(off));
      rcvNxt = (rcvNxt + took) >>> 0;
      if (off + took < s.data.length) break;
      this.total -= s.data.length;
      this.segs.shift();
    }
    return rcvNxt;
  }
  sackBlocks(max: number): Array<[number, number]> {
    const blocks: Array<[number, number]> = [];
    for (const s of this.segs) {
      const end = (s.seq + s.data.length) >>> 0;
      const last = blocks[blocks.length - 1];
      if (last && last[1] === s.seq) last[1] = end;
      else blocks.push([s.seq, end]);
    }
    const i = blocks.findIndex(([l, r]) => le(l, this.lastSeq) && lt(this.lastSeq, r));
    if (i > 0) blocks.unshift(...blocks.splice(i, 1));
    return blocks.slice(0, max);
  }
  clear(): void {
    this.segs = [];
    this.total = 0;
  }
}

// ------------------------------------------------------------------------------------------------ congestion control
export interface CongestionControl {
  readonly name: string;
  readonly cwnd: number;
  readonly ssthresh: number;
  onAck(now: number, ackedBytes: number, bytesInFlight: number, rttMs: number | undefined): void;
  onEnterRecovery(now: number, bytesInFlight: number): void;
  onExitRecovery(now: number): void;
  onRto(now: number, bytesInFlight: number): void;
  setMss(mss: number): void;
}
export type CongestionControlFactory = (opts: { mss: number; now: number; initialWindowSegments?: number }) => CongestionControl;

/** RFC 5681 / RFC 6582 NewReno with appropriate byte counting (RFC 3465, L = 2). */
export const newReno: CongestionControlFactory = ({ mss, initialWindowSegments }) => {
  let smss = mss;
  let cwnd = (initialWindowSegments ?? 10) * mss;
  let ssthresh = 0x7fffffff;
  let acc = 0;
  return {
    name: 'newreno',
    get cwnd() {
      return cwnd;
    },
    get ssthresh() {
      return ssthresh;
    },
    onAck(_now, acked) {
      if (cwnd < ssthresh) cwnd += Math.min(acked, 2 * smss);
      else {
        acc += acked;
        if (acc >= cwnd) {
          acc -= cwnd;
          cwnd += smss;
        }
      }
    },
    onEnterRecovery(_now, flight) {
      ssthresh = Math.max(flight / 2, 2 * smss);
      cwnd = ssthresh;
    },
    onExitRecovery() {
      cwnd = ssthresh;
    },
    onRto(_now, flight) {
      ssthresh = Math.max(flight / 2, 2 * smss);
      cwnd = smss;
    },
    setMss(m) {
      smss = m;
    },
  };
};
/** Stand-in: CUBIC lands with the parts; NewReno until then. */
export const cubic: CongestionControlFactory = newReno;

// ------------------------------------------------------------------------------------------------ keyed hash, ISN
function mix(h: number, v: number): number {
  h = Math.imul(h ^ v, 0x9e3779b1);
  h ^= h >>> 15;
  h = Math.imul(h, 0x85ebca77);
  return (h ^ (h >>> 13)) >>> 0;
}
function keyed(key: Uint8Array, a: number, b: number, c: number, d: number, e = 0): number {
  let h = 0x6a09e667;
  for (let i = 0; i < 16; i += 4) h = mix(h, (key[i]! << 24) | (key[i + 1]! << 16) | (key[i + 2]! << 8) | key[i + 3]!);
  h = mix(h, a);
  h = mix(h, b);
  h = mix(h, c);
  h = mix(h, d);
  h = mix(h, e);
  return mix(h, 0x5bd1e995);
}
/** RFC 6528: ISN = M + F(4-tuple, key), M a 4 us clock. */
export function computeIsn(key: Uint8Array, localIp: number, localPort: number, remoteIp: number, remotePort: number, nowMs: number): number {
  return (keyed(key, localIp, localPort, remoteIp, remotePort) + Math.floor(nowMs * 250)) >>> 0;
}

// ------------------------------------------------------------------------------------------------ SYN cookies
const MSS_TABLE = [536, 1300, 1440, 1460];
export function synCookieEncode(
  key: Uint8Array, localIp: number, localPort: number, remoteIp: number, remotePort: number, peerIsn: number,
  mss: number, nowMs: number, opts?: { wscale?: number | undefined; sackOk?: boolean; tsOk?: boolean },
): { isn: number; mss: number; tsval?: number } {
  let idx = 0;
  for (let i = MSS_TABLE.length - 1; i >= 0; i--) if (MSS_TABLE[i]! <= mss) { idx = i; break; }
  const slot = Math.floor(nowMs / 64000) & 0xff;
  const h = keyed(key, localIp, (localPort << 16) | remotePort, remoteIp, peerIsn, slot);
  const isn = ((h & ~0x3ff) | (slot << 2) | idx) >>> 0;
  const out: { isn: number; mss: number; tsval?: number } = { isn, mss: MSS_TABLE[idx]! };
  if (opts?.tsOk) {
    const ws = opts.wscale === undefined ? 0xf : opts.wscale & 0xf;
    out.tsval = ((Math.floor(nowMs) & ~0x3f) | 0x20 | (opts.sackOk ? 0x10 : 0) | ws) >>> 0;
  }
  return out;
}
export function synCookieDecode(
  key: Uint8Array, localIp: number, localPort: number, remoteIp: number, remotePort: number, peerIsn: number,
  cookie: number, nowMs: number, tsecr?: number,
): { mss: number; wscale?: number; sackOk: boolean } | null {
  const slot = (cookie >>> 2) & 0xff;
  const cur = Math.floor(nowMs / 64000) & 0xff;
  if (slot !== cur && slot !== ((cur - 1) & 0xff)) return null;
  const h = keyed(key, localIp, (localPort << 16) | remotePort, remoteIp, peerIsn, slot);
  if (((h & ~0x3ff) >>> 0) !== ((cookie & ~0x3ff) >>> 0)) return null;
  const out: { mss: number; wscale?: number; sackOk: boolean } = { mss: MSS_TABLE[cookie & 3]!, sackOk: false };
  if (tsecr !== undefined && (tsecr & 0x20) !== 0) {
    const ws = tsecr & 0xf;
    if (ws !== 0xf) out.wscale = ws;
    out.sackOk = (tsecr & 0x10) !== 0;
  }
  return out;
}
