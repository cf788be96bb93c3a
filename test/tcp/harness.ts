/**
 * Test harness for the TCP layer: a fake TcpHost that records what the layer sends, a two-layer network with a
 * virtual clock (latency, seeded loss / reorder / duplication, and a filter hook), and smoltcp-like segment
 * templates for driving one layer by hand. Nothing sleeps.
 */
import { expect } from 'vitest';
import { seededRng } from '../../protocols/util/rng.js';
import { pseudoHeaderSum } from '../../protocols/util/checksum.js';
import { TcpLayer, type TcpHost, type TcpTxPacket } from '../../protocols/tcp/layer.js';
import type { TcpConnection } from '../../protocols/tcp/connection.js';
import type { TcpOptions } from '../../protocols/tcp/options.js';
import {
  TcpFlag,
  TCP_PROTOCOL,
  TcpPacket,
  emitTcp,
  emptyTcpFields,
  fillTcpChecksum,
  parseTcp,
  tcpHeaderLen,
  verifyTcpChecksum,
  type TcpFields,
  type TcpRepr,
} from '../../protocols/tcp/wire.js';

export const IP_A = 0x0a000001;
export const IP_B = 0x0a000002;
export const { FIN, SYN, RST, PSH, ACK } = TcpFlag;

export interface Sent {
  src: number;
  dst: number;
  bytes: Uint8Array;
  /** The IP TOS byte the layer asked for (ECN field: RFC 3168). */
  tos?: number;
}

export class FakeHost implements TcpHost {
  readonly sent: Sent[] = [];
  txChecksum = true;
  rxChecksum = true;
  mtu = 1500;
  /** When set, txSegment refuses (backpressure). */
  blocked = false;
  /** When set, packets are taken and dropped: commit returns false (a local transmit failure); counted here. */
  dropping = false;
  dropped = 0;
  onSend: ((s: Sent, now: number) => void) | undefined;
  constructor(readonly ip: number) {}
  txSegment(_now: number, src: number, dst: number, tcpLen: number): TcpTxPacket | null {
    if (this.blocked) return null;
    const buf = new Uint8Array(tcpLen + 4);
    const packet: TcpTxPacket = {
      buf,
      offset: 4,
      tos: 0,
      pseudoSum: this.txChecksum ? pseudoHeaderSum(src, dst, TCP_PROTOCOL, 0) : -1,
      commit: (now) => {
        if (!this.dropping) return this.sent1(now, src, dst, buf.subarray(4), packet.tos);
        this.dropped++;
        return false;
      },
    };
    return packet;
  }
  private sent1(now: number, src: number, dst: number, bytes: Uint8Array, tos: number): void {
    const seg = { src, dst, bytes, tos };
    expect(verifyTcpChecksum(seg.bytes, 0, seg.bytes.length, src, dst)).toBe(true);
    if (this.onSend) this.onSend(seg, now);
    else this.sent.push(seg);
  }
  mtuFor(): number {
    return this.mtu;
  }
  sourceFor(): number | undefined {
    return this.ip;
  }
}

export function layerOptions(seed: number, extra: Partial<TcpOptions> = {}): TcpOptions {
  return { rng: seededRng(seed), ...extra };
}

/** Decode a sent segment. */
export function decode(s: Sent): TcpRepr & { payload: Uint8Array; tos: number } {
  const p = TcpPacket.checked(s.bytes)!;
  expect(p).toBeDefined();
  const r = parseTcp(p)!;
  expect(r).toBeDefined();
  return { ...r, payload: p.payload, tos: s.tos ?? 0 };
}

/** Build a segment's bytes. */
export function build(fields: Partial<TcpFields>, payload: Uint8Array = new Uint8Array(0), src = IP_B, dst = IP_A): Uint8Array {
  const f: TcpFields = { ...emptyTcpFields(), window: 65535, ...fields, payloadLen: payload.length };
  const hl = tcpHeaderLen(f);
  const b = new Uint8Array(hl + payload.length);
  emitTcp(f, b, 0);
  b.set(payload, hl);
  fillTcpChecksum(b, 0, b.length, src, dst);
  return b;
}

/** Two layers joined by a virtual network. */
export class Net {
  now = 0;
  latency = 1;
  loss = 0;
  dup = 0;
  reorder = 0;
  readonly rng;
  /** Return true to drop a segment (called before random faults). */
  filter: ((from: 'a' | 'b', seg: TcpRepr & { payload: Uint8Array }) => boolean) | undefined;
  readonly hostA = new FakeHost(IP_A);
  readonly hostB = new FakeHost(IP_B);
  readonly a: TcpLayer;
  readonly b: TcpLayer;
  private queue: Array<{ at: number; to: TcpLayer; src: number; dst: number; bytes: Uint8Array; n: number }> = [];
  private n = 0;
  delivered = 0;
  dropped = 0;
  log: string[] = [];
  /** An extra wake-up time for application activity (a reader on its own schedule). */
  wakeAt: (() => number | undefined) | undefined;
  trace = false;

  constructor(seed: number, optsA: Partial<TcpOptions> = {}, optsB: Partial<TcpOptions> = optsA) {
    this.rng = seededRng(seed ^ 0x5eed);
    this.a = new TcpLayer(this.hostA, layerOptions(seed * 2 + 1, optsA));
    this.b = new TcpLayer(this.hostB, layerOptions(seed * 2 + 2, optsB));
    this.hostA.onSend = (s, now) => this.enqueue('a', s, now);
    this.hostB.onSend = (s, now) => this.enqueue('b', s, now);
  }

  private enqueue(from: 'a' | 'b', s: Sent, now: number): void {
    const seg = decode(s);
    if (this.trace) this.log.push(`${now} ${from} ${fmt(seg)}`);
    if (this.filter?.(from, seg)) {
      this.dropped++;
      return;
    }
    if (this.loss > 0 && this.rng.nextFloat() < this.loss) {
      this.dropped++;
      return;
    }
    const to = from === 'a' ? this.b : this.a;
    let at = now + this.latency;
    if (this.reorder > 0 && this.rng.nextFloat() < this.reorder) at += this.latency * (1 + this.rng.nextInt(3));
    const bytes = s.bytes.slice();
    this.queue.push({ at, to, src: s.src, dst: s.dst, bytes, n: this.n++ });
    if (this.dup > 0 && this.rng.nextFloat() < this.dup) {
      this.queue.push({ at: at + this.latency, to, src: s.src, dst: s.dst, bytes: bytes.slice(), n: this.n++ });
    }
  }

  /** Advance virtual time event by event until pred() holds or `limit` ms pass. Returns whether pred held. */
  run(pred: () => boolean = () => false, limit = 60_000): boolean {
    const end = this.now + limit;
    for (let guard = 0; guard < 5_000_000; guard++) {
      if (pred()) return true;
      let t = Infinity;
      for (const q of this.queue) if (q.at < t) t = q.at;
      const pa = this.a.pollAt(this.now);
      const pb = this.b.pollAt(this.now);
      if (pa !== undefined && pa < t) t = pa;
      if (pb !== undefined && pb < t) t = pb;
      const w = this.wakeAt?.();
      if (w !== undefined && w < t) t = w;
      if (t === Infinity || t > end) {
        this.now = Math.max(this.now, Math.min(end, t === Infinity ? end : t));
        return pred();
      }
      this.now = Math.max(this.now, t);
      const due = this.queue.filter((q) => q.at <= this.now).sort((x, y) => x.at - y.at || x.n - y.n);
      this.queue = this.queue.filter((q) => q.at > this.now);
      for (const q of due) {
        this.delivered++;
        q.to.input(this.now, q.src, q.dst, q.bytes);
      }
      this.a.poll(this.now);
      this.b.poll(this.now);
    }
    throw new Error('harness: too many events');
  }

  /** Run for exactly `ms` of virtual time. */
  advance(ms: number): void {
    this.run(() => false, ms);
  }

  get inFlight(): number {
    return this.queue.length;
  }
}

export function fmt(s: TcpRepr & { payload?: Uint8Array }): string {
  const f = s.flags;
  const names = [
    f & SYN ? 'S' : '', f & ACK ? 'A' : '', f & FIN ? 'F' : '', f & RST ? 'R' : '', f & PSH ? 'P' : '',
  ].join('');
  const sack = s.sackBlocks.length ? ` sack=${s.sackBlocks.join(',')}` : '';
  return `${s.srcPort}>${s.dstPort} [${names}] seq=${s.seq} ack=${s.ack} win=${s.window} len=${s.payloadLen}${sack}`;
}

export function bytes(n: number, seed = 1): Uint8Array {
  const r = seededRng(seed);
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = r.nextU32() & 0xff;
  return b;
}

/** Open a connection a -> b:80 through the net; returns both ends. */
export function openPair(net: Net): { client: TcpConnection; server: TcpConnection } {
  const l = net.b.listen(0, 80, 16);
  const client = net.a.connect(net.now, IP_B, 80);
  let server: TcpConnection | undefined;
  l.onConnection = (c) => (server = c);
  expect(net.run(() => client.state === 'ESTABLISHED' && server !== undefined)).toBe(true);
  l.close(net.now);
  return { client, server: server! };
}

/** Send `data` from `from` to `to`, reading as it arrives; returns what was read. */
export function transfer(net: Net, from: TcpConnection, to: TcpConnection, data: Uint8Array, limit = 600_000): Uint8Array {
  const out = new Uint8Array(data.length);
  let got = 0;
  let sent = 0;
  const buf = new Uint8Array(65536);
  const pump = (): void => {
    if (sent < data.length) sent += from.send(net.now, data.subarray(sent));
  };
  from.onWritable = pump;
  to.onReadable = () => {
    for (;;) {
      const n = to.read(net.now, buf);
      if (n === 0) break;
      out.set(buf.subarray(0, Math.min(n, out.length - got)), got);
      got += n;
    }
  };
  pump();
  net.run(() => {
    pump();
    return got >= data.length;
  }, limit);
  expect(got).toBe(data.length);
  return out;
}

