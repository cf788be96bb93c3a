/**
 * A live two-stack world for the stateful targets: stack A (under test, 10.0.0.1, MAC 02:00:00:00:00:01) and
 * stack B (10.0.0.2, MAC ...:02) on a memory link, driven on a virtual clock. Setup runs both stacks normally
 * (handshakes, data, half-closes); then B is frozen and its end of the link becomes the attacker's: crafted frames
 * are injected into A with `inject`, and whatever A sends is drained, checked by `validateEmitted` and used to
 * track each connection's SND.NXT / RCV.NXT as seen on the wire (so a fuzzer can aim sequence numbers into the
 * window without reading TCP's private state).
 *
 * Everything is seeded: building a world twice gives the same world.
 */
import { memoryLink, type MemoryDriver } from '../../drivers/memory/index.js';
import type { FrameDriver, FrameSink } from '../../drivers/types.js';
import { read16, read32 } from '../../protocols/util/bytes.js';
import { seededRng } from '../../protocols/util/rng.js';
import { TcpConnection } from '../../protocols/tcp/connection.js';
import { NetStack, type StackConfig } from '../../src/stack/stack.js';
import { ipOffset, validateEmitted } from './packets.js';
import { OracleError, check } from './target.js';

export const MAC_A = Uint8Array.of(2, 0, 0, 0, 0, 1);
export const MAC_B = Uint8Array.of(2, 0, 0, 0, 0, 2);
export const IP_A = 0x0a000001;
export const IP_B = 0x0a000002;
export const MTU = 1500;

/**
 * Work oracle: how many times TCP may run a connection's timers while A handles one injected frame or one clock
 * step. A timer loop that spins (runs handlers that are not due, over and over) is a CPU denial of service even
 * when it ends; counting calls finds it deterministically, without timing anything. The count is reset by the
 * World around each call; outside a World it only counts.
 */
export const TIMER_CALLS_PER_STEP = 20_000;
let timerCalls = 0;
let timerBudget = Infinity;
const proto = TcpConnection.prototype as unknown as { onTimer(now: number): void; __fuzzWrapped?: boolean };
if (!proto.__fuzzWrapped) {
  const orig = proto.onTimer;
  proto.onTimer = function (this: TcpConnection, now: number): void {
    if (++timerCalls > timerBudget) {
      timerBudget = Infinity;
      throw new OracleError(`TCP ran connection timers more than ${TIMER_CALLS_PER_STEP} times for one input step (a spinning timer loop)`);
    }
    orig.call(this, now);
  };
  proto.__fuzzWrapped = true;
}

function budgeted<T>(fn: () => T): T {
  timerCalls = 0;
  timerBudget = TIMER_CALLS_PER_STEP;
  try {
    return fn();
  } finally {
    timerBudget = Infinity;
  }
}

/** What A's wire output says about one of its connections. */
export interface Track {
  readonly localPort: number;
  readonly remotePort: number;
  sndNxt: number;
  rcvNxt: number;
  seen: boolean;
}

/** A pass-through driver that shows every frame A commits to `onTx` (before the link takes the buffer). */
class TapDriver implements FrameDriver {
  private reserved: Uint8Array | null = null;
  constructor(private readonly inner: FrameDriver, private readonly onTx: (frame: Uint8Array) => void) {}
  get caps() {
    return this.inner.caps;
  }
  get hwAddress() {
    return this.inner.hwAddress;
  }
  get stats() {
    return this.inner.stats;
  }
  receive(now: number, max: number, sink: FrameSink): number {
    return this.inner.receive(now, max, sink);
  }
  txReserve(len: number): Uint8Array | null {
    this.reserved = this.inner.txReserve(len);
    return this.reserved;
  }
  txCommit(now: number, len: number): void {
    if (this.reserved !== null) this.onTx(this.reserved.subarray(0, len));
    this.reserved = null;
    this.inner.txCommit(now, len);
  }
  flush(now: number): void {
    this.inner.flush(now);
  }
  pollAt(now: number): number | undefined {
    return this.inner.pollAt?.(now);
  }
  setReadyCallback(cb: (() => void) | null): void {
    this.inner.setReadyCallback(cb);
  }
  close(): void {
    this.inner.close();
  }
}

export interface WorldOptions {
  configA?: Partial<StackConfig>;
  configB?: Partial<StackConfig>;
}

/** Small caps for A so a fuzzer reaches them quickly. */
export const A_CAPS = {
  udp: { recvBufferBytes: 4096 },
  reassembly: { maxBytes: 64 * 1024, maxDatagrams: 16, maxFragments: 32 },
  neighbour: { maxEntries: 32, maxQueuedBytes: 64 * 1024, maxQueuedPackets: 16 },
  tcp: {
    sendBuffer: 32 * 1024,
    receiveBuffer: 16 * 1024,
    maxReceiveBuffer: 64 * 1024,
    synQueueLimit: 8,
    maxConnections: 64,
    maxTimeWait: 8,
    challengeAckLimit: 100,
  },
} as const;

export class World {
  now = 1_000;
  readonly a: NetStack;
  readonly b: NetStack;
  readonly da: MemoryDriver;
  readonly db: MemoryDriver;
  frozen = false;
  /** The first problem seen in A's output (validateEmitted), or undefined. */
  problem: string | undefined;
  emitted = 0;
  readonly tracks = new Map<number, Track>();

  constructor(options: WorldOptions = {}) {
    const [da, db] = memoryLink({ mtu: MTU, queueLimit: 4096 });
    this.da = da;
    this.db = db;
    const tap = new TapDriver(da, (f) => this.observe(f));
    this.a = new NetStack({ driver: tap, addresses: [{ address: IP_A, prefixLen: 24 }], rng: seededRng(1), ...options.configA });
    this.b = new NetStack({ driver: db, addresses: [{ address: IP_B, prefixLen: 24 }], rng: seededRng(2), ...options.configB });
  }

  /** Run both stacks (before freeze) or A alone (after) until idle, for at most `ms` of virtual time. */
  run(ms: number): void {
    budgeted(() => this.runInner(ms));
  }

  private runInner(ms: number): void {
    const until = this.now + ms;
    for (let round = 0; round < 100_000; round++) {
      let work = this.a.poll(this.now);
      if (!this.frozen) work += this.b.poll(this.now);
      else this.drain();
      if (work > 0) continue;
      let next = this.a.pollAt(this.now);
      if (!this.frozen) {
        const nb = this.b.pollAt(this.now);
        if (nb !== undefined && (next === undefined || nb < next)) next = nb;
      }
      if (next === undefined || next > until) {
        this.now = Math.max(this.now, until);
        this.a.poll(this.now);
        if (this.frozen) this.drain();
        return;
      }
      this.now = Math.max(this.now, next);
    }
  }

  /** Advance the clock by `ms`, running A's timers at their due times (bounded), B frozen. */
  advance(ms: number): void {
    budgeted(() => this.advanceInner(ms));
  }

  private advanceInner(ms: number): void {
    const until = this.now + ms;
    for (let i = 0; i < 64; i++) {
      const at = this.a.pollAt(this.now);
      check(at === undefined || (typeof at === 'number' && !Number.isNaN(at) && Number.isFinite(at)), `pollAt returned ${at}`);
      if (at === undefined || at > until) break;
      this.now = Math.max(this.now, at);
      this.a.poll(this.now);
      this.drain();
    }
    this.now = until;
    this.a.poll(this.now);
    this.drain();
  }

  freeze(): void {
    this.frozen = true;
    this.drain();
  }

  /** Send `frame` to A as if from the wire (cut to the link's largest frame), then let A handle it. */
  inject(frame: Uint8Array): void {
    budgeted(() => this.injectInner(frame));
  }

  private injectInner(frame: Uint8Array): void {
    this.lastOutputs = [];
    const len = Math.min(frame.length, MTU + 18);
    const buf = this.db.txReserve(len);
    if (buf === null) return;
    buf.set(frame.subarray(0, len));
    this.db.txCommit(this.now, len);
    this.a.poll(this.now);
    this.drain();
  }

  /** Throw away what A sent (it was already checked by the tap). */
  drain(): void {
    const sink = (): void => {};
    while (this.db.receive(this.now, 1 << 20, sink) > 0);
  }

  /** Copies of the frames A sent during the last `inject` (for data-integrity oracles). */
  lastOutputs: Uint8Array[] = [];

  private observe(frame: Uint8Array): void {
    this.emitted++;
    if (this.lastOutputs.length < 64) this.lastOutputs.push(frame.slice());
    if (this.problem === undefined) {
      const p = validateEmitted(frame, MAC_A, [IP_A], MTU);
      if (p !== undefined) this.problem = `A sent a bad frame (${p}): ${Buffer.from(frame.subarray(0, 64)).toString('hex')}`;
    }
    const o = ipOffset(frame);
    if (o < 0 || frame.length < o + 40 || frame[o + 9] !== 6 || (read16(frame, o + 6) & 0x3fff) !== 0) return;
    const t = o + (frame[o]! & 0x0f) * 4;
    if (frame.length < t + 20) return;
    const localPort = read16(frame, t);
    const remotePort = read16(frame, t + 2);
    const seq = read32(frame, t + 4);
    const ack = read32(frame, t + 8);
    const flags = frame[t + 13]!;
    const hl = (frame[t + 12]! >>> 4) * 4;
    const end = (seq + (frame.length - t - hl) + (flags & 0x02 ? 1 : 0) + (flags & 0x01 ? 1 : 0)) >>> 0;
    const key = (localPort << 16) | remotePort;
    let tr = this.tracks.get(key);
    if (tr === undefined) {
      tr = { localPort, remotePort, sndNxt: end, rcvNxt: ack, seen: false };
      this.tracks.set(key, tr);
    }
    if (flags & 0x04) return;
    if (!tr.seen || ((end - tr.sndNxt) | 0) > 0) tr.sndNxt = end;
    if (flags & 0x10) tr.rcvNxt = ack;
    tr.seen = true;
  }
}

/** Collects A's connections from a listener and gives them a small echo application. */
export function serveEcho(w: World, port: number, backlog: number): Set<TcpConnection> {
  const conns = new Set<TcpConnection>();
  const l = w.a.tcp!.listen(0, port, backlog);
  const buf = new Uint8Array(4096);
  l.onConnection = (c) => {
    conns.add(c);
    attachEcho(w, c, buf);
    c.onClose = () => conns.delete(c);
  };
  return conns;
}

export function attachEcho(w: World, c: TcpConnection, buf: Uint8Array): void {
  c.onReadable = () => {
    const n = c.read(w.now, buf);
    if (n > 0 && c.writableLength > 0) {
      try {
        c.send(w.now, buf.subarray(0, Math.min(n, 512)));
      } catch {
        // EPIPE/ENOTCONN: the application raced a close; not the stack's fault
      }
    }
  };
  c.onEnd = () => c.close(w.now);
}
