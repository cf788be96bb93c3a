/**
 * Helpers for whole-stack TCP simulations on the virtual clock: two stacks (10.0.0.1 / 10.0.0.2) on an in-memory
 * link, each direction impaired by the seeded faults middleware, with static ARP entries (so a lossy link cannot
 * fail ARP) and a transmit tap that checks what each stack puts on the wire.
 *
 * Wrapping order per stack: stack -> WireTap -> faults -> memory link. The tap therefore sees segments in the order
 * the stack emitted them, before loss, duplication or reordering.
 *
 * Nothing here reads a clock or draws a random number: every run replays exactly from its seeds.
 */
import { faults, type FaultConfig, type FaultDriver } from '../../drivers/middleware/faults.js';
import type { FrameDriver } from '../../drivers/types.js';
import type { TcpConnection, TcpState } from '../../protocols/tcp/connection.js';
import type { TcpOptions } from '../../protocols/tcp/options.js';
import { seqDiff } from '../../protocols/tcp/seq.js';
import { emptyTcpFields, parseTcpInto, TcpFlag } from '../../protocols/tcp/wire.js';
import { read16, read32 } from '../../protocols/util/bytes.js';
import { ip, makePair, type Pair } from '../stack/harness.js';

export const A_IP = ip('10.0.0.1');
export const B_IP = ip('10.0.0.2');

// ------------------------------------------------------------------------------------------------ byte streams

/** Byte `offset` of the deterministic stream named `seed` (so a check needs only counts, not copies). */
export function streamByte(seed: number, offset: number): number {
  let x = Math.imul(offset ^ Math.imul(seed, 0x9e3779b1), 0x85ebca77);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  return (x ^ (x >>> 16)) & 0xff;
}

/** `len` bytes of stream `seed` starting at `offset`. */
export function streamBytes(seed: number, offset: number, len: number): Uint8Array {
  const b = new Uint8Array(len);
  for (let i = 0; i < len; i++) b[i] = streamByte(seed, offset + i);
  return b;
}

/** The first offset in `got` that differs from stream `seed` at `offset`, or -1. */
export function streamMismatch(seed: number, offset: number, got: Uint8Array): number {
  for (let i = 0; i < got.length; i++) if (got[i] !== streamByte(seed, offset + i)) return i;
  return -1;
}

// ------------------------------------------------------------------------------------------------ wire tap

/** One violation seen on the wire. */
export interface WireViolation {
  readonly what: string;
  readonly detail: string;
}

export interface FlowState {
  /** Window scale this sender applies to its advertisements (from its SYN, if both SYNs carried the option). */
  ownWs: number | undefined;
  peerOfferedWs: boolean | undefined;
  /** Right edge (ack + scaled window) last advertised, once known. */
  edge: number | undefined;
}

/**
 * A pass-through driver that parses every IPv4/TCP segment the stack transmits and checks (RFC 9293 3.8.6):
 *   - the advertised receive window's right edge (SEG.ACK + SEG.WND << scale) never moves left (RFC 7323 2.4).
 *     Because the window field is the scaled-down window (RFC 7323 2.3: truncated), the edge seen on the wire may
 *     appear to move left by less than 2^scale while the receiver's real edge stays put: that much is tolerated
 *     and counted separately (`truncatedShrinks`). A SYN-ACK's window is unscaled; a RST's window is ignored.
 *   - with the taps of both ends sharing `flows`: no segment's data (and FIN) ends beyond the largest right edge
 *     the other end has sent so far (the sender cannot have been offered more).
 */
export interface WireTap extends FrameDriver {
  readonly violations: WireViolation[];
  readonly segments: number;
  readonly truncatedShrinks: number;
  /** Forget per-flow state (a new incarnation of a 4-tuple). */
  reset(): void;
  /** When set, a one-line summary of every TCP segment sent is pushed here (debugging a failing seed). */
  log: string[] | undefined;
}

const FLAG_NAMES = ['F', 'S', 'R', 'P', '.', 'U', 'E', 'C'];
function flagString(flags: number): string {
  let out = '';
  for (let i = 0; i < 8; i++) if (flags & (1 << i)) out += FLAG_NAMES[i];
  return out;
}

/** Per-flow state shared by the taps of both ends, so each sees what the other advertised. */
export type WireFlows = Map<string, FlowState>;

export function wireTap(inner: FrameDriver, flows: WireFlows = new Map()): WireTap {
  const fields = emptyTcpFields();
  const violations: WireViolation[] = [];
  let reserved: Uint8Array | null = null;
  let segments = 0;
  let truncatedShrinks = 0;
  const ethernet = inner.caps.medium === 'ethernet';

  const flow = (key: string): FlowState => {
    let f = flows.get(key);
    if (f === undefined) {
      f = { ownWs: undefined, peerOfferedWs: undefined, edge: undefined };
      flows.set(key, f);
    }
    return f;
  };

  const inspect = (now: number, frame: Uint8Array): void => {
    let off = 0;
    if (ethernet) {
      if (frame.length < 14 || read16(frame, 12) !== 0x0800) return;
      off = 14;
    }
    if (frame.length < off + 20 || frame[off]! >> 4 !== 4 || frame[off + 9] !== 6) return;
    const ihl = (frame[off]! & 0xf) * 4;
    const totalLen = read16(frame, off + 2);
    if ((read16(frame, off + 6) & 0x3fff) !== 0) return; // fragments: not expected, not checked
    const src = read32(frame, off + 12);
    const dst = read32(frame, off + 16);
    const seg = frame.subarray(off + ihl, off + totalLen);
    if (!parseTcpInto(seg, fields)) {
      violations.push({ what: 'unparsable segment', detail: `${seg.length} bytes` });
      return;
    }
    segments++;
    if (tap.log !== undefined) {
      tap.log.push(
        `${now} ${fields.srcPort}>${fields.dstPort} [${flagString(fields.flags)}] seq ${fields.seq} ack ${fields.ack} win ${fields.window} len ${seg.length - (seg[12]! >> 4) * 4}` +
          (fields.sackBlocks.length > 0 ? ` sack ${fields.sackBlocks.join(',')}` : ''),
      );
    }
    const key = `${src}:${fields.srcPort}>${dst}:${fields.dstPort}`;
    const rkey = `${dst}:${fields.dstPort}>${src}:${fields.srcPort}`;
    const me = flow(key);
    const peer = flows.get(rkey);
    const syn = (fields.flags & TcpFlag.SYN) !== 0;
    if (syn) {
      // A new incarnation starts with a SYN (or SYN-ACK): record the option both ways.
      me.ownWs = fields.wscale ?? 0;
      me.edge = undefined;
      flow(rkey).peerOfferedWs = fields.wscale !== undefined;
    }
    if (fields.flags & TcpFlag.RST) return;
    // RFC 9293 3.8.6: the sender stays within the window the receiver offered. The receiver's largest right edge
    // emitted so far bounds what the sender can have been told (a receiver never shrinks it: checked below).
    const dataLen = seg.length - (seg[12]! >> 4) * 4;
    const end = (fields.seq + dataLen + (fields.flags & TcpFlag.FIN ? 1 : 0)) >>> 0;
    if (!syn && peer?.edge !== undefined && seqDiff(end, peer.edge) > 0) {
      violations.push({
        what: 'segment beyond the right edge the receiver offered',
        detail: `${key}: seq ${fields.seq} len ${dataLen}${fields.flags & TcpFlag.FIN ? ' + FIN' : ''} ends ${seqDiff(end, peer.edge)} past ${peer.edge}`,
      });
    }
    if (!(fields.flags & TcpFlag.ACK)) return;
    // A SYN-ACK's window is never scaled (RFC 7323 2.2).
    const ws = !syn && me.ownWs !== undefined && me.peerOfferedWs ? me.ownWs : 0;
    const edge = (fields.ack + fields.window * 2 ** ws) >>> 0;
    if (me.edge !== undefined) {
      const moved = seqDiff(edge, me.edge);
      if (moved < 0) {
        if (-moved < 2 ** ws) truncatedShrinks++;
        else {
          violations.push({
            what: 'advertised window right edge moved left',
            detail: `${key}: edge ${me.edge} -> ${edge} (ack ${fields.ack}, window ${fields.window} << ${ws})`,
          });
        }
      }
      if (moved > 0) me.edge = edge;
    } else me.edge = edge;
  };

  const tap: WireTap = {
    log: undefined,
    get caps() {
      return inner.caps;
    },
    get hwAddress() {
      return inner.hwAddress;
    },
    get stats() {
      return inner.stats;
    },
    violations,
    get segments() {
      return segments;
    },
    get truncatedShrinks() {
      return truncatedShrinks;
    },
    reset() {
      flows.clear();
    },
    receive: (now, max, sink) => inner.receive(now, max, sink),
    txReserve(len) {
      reserved = inner.txReserve(len);
      return reserved;
    },
    txCommit(now, len) {
      // Inspect before handing over: after txCommit the buffer belongs to the inner driver.
      if (reserved !== null) inspect(now, reserved.subarray(0, len));
      reserved = null;
      inner.txCommit(now, len);
    },
    flush: (now) => inner.flush(now),
    pollAt: (now) => inner.pollAt?.(now),
    setReadyCallback: (cb) => inner.setReadyCallback(cb),
    close: () => inner.close(),
  };
  return tap;
}

// ------------------------------------------------------------------------------------------------ the pair

export interface SimPairOptions {
  /** Seeds both fault pipelines (A's gets `seed`, B's a derived one). */
  seed: number;
  /** Impairment of frames A sends (A -> B). */
  aToB?: FaultConfig;
  /** Impairment of frames B sends (B -> A). */
  bToA?: FaultConfig;
  tcpA?: Partial<Omit<TcpOptions, 'rng'>>;
  tcpB?: Partial<Omit<TcpOptions, 'rng'>>;
  mtu?: number;
  /** A wrapper between A's wire tap and its faults (a marker that rewrites frames A sends, for instance). */
  wrapTxA?: (faults: FrameDriver) => FrameDriver;
}

export interface SimPair extends Pair {
  faultA: FaultDriver;
  faultB: FaultDriver;
  tapA: WireTap;
  tapB: WireTap;
}

/** Two stacks on a memory link with the faults middleware on each stack's transmit side and static ARP. */
export function makeSimPair(o: SimPairOptions): SimPair {
  let faultA: FaultDriver | undefined;
  let faultB: FaultDriver | undefined;
  let tapA: WireTap | undefined;
  let tapB: WireTap | undefined;
  const flows: WireFlows = new Map();
  const p = makePair({
    mtu: o.mtu,
    wrapA: (d) => {
      faultA = faults(d, { seed: o.seed >>> 0, tx: o.aToB ?? {} });
      return (tapA = wireTap(o.wrapTxA ? o.wrapTxA(faultA) : faultA, flows));
    },
    wrapB: (d) => (tapB = wireTap((faultB = faults(d, { seed: (o.seed ^ 0x5bd1e995) >>> 0, tx: o.bToA ?? {} })), flows)),
    configA: { tcp: o.tcpA ?? {} },
    configB: { tcp: o.tcpB ?? {} },
  });
  // Static neighbours: the property and the table are about TCP, and ARP over a 30 % lossy link can fail.
  p.a.neighbours.addStatic(B_IP, p.b.mac);
  p.b.neighbours.addStatic(A_IP, p.a.mac);
  return { ...p, faultA: faultA!, faultB: faultB!, tapA: tapA!, tapB: tapB! };
}

// ------------------------------------------------------------------------------------------------ state tracing

/** RFC 9293 3.3.2 figure 5 (plus ABORT / RST / timeouts to CLOSED from any state). */
const LEGAL: Record<TcpState, readonly TcpState[]> = {
  CLOSED: [],
  LISTEN: ['SYN-RECEIVED', 'SYN-SENT', 'CLOSED'],
  'SYN-SENT': ['SYN-RECEIVED', 'ESTABLISHED', 'CLOSED'],
  'SYN-RECEIVED': ['ESTABLISHED', 'FIN-WAIT-1', 'CLOSED'],
  ESTABLISHED: ['FIN-WAIT-1', 'CLOSE-WAIT', 'CLOSED'],
  'FIN-WAIT-1': ['FIN-WAIT-2', 'CLOSING', 'TIME-WAIT', 'CLOSED'],
  'FIN-WAIT-2': ['TIME-WAIT', 'CLOSED'],
  'CLOSE-WAIT': ['LAST-ACK', 'CLOSED'],
  CLOSING: ['TIME-WAIT', 'CLOSED'],
  'LAST-ACK': ['CLOSED'],
  'TIME-WAIT': ['CLOSED'],
};

export interface StateTrace {
  /** Every state the connection was in, in order, from when tracing began. */
  readonly states: TcpState[];
  readonly illegal: string[];
  /** onClose calls and their errors. */
  readonly closes: (string | undefined)[];
  readonly ends: number;
}

/**
 * Record every assignment to `conn.state` (an accessor replaces the own data property) and check each change is
 * an edge of the RFC state diagram. Chains onClose / onEnd (set the application's callbacks before calling this,
 * or after: this keeps whatever is set when they fire).
 */
export function traceStates(conn: TcpConnection): StateTrace {
  const trace = { states: [conn.state], illegal: [] as string[], closes: [] as (string | undefined)[], ends: 0 };
  let cur: TcpState = conn.state;
  Object.defineProperty(conn, 'state', {
    configurable: true,
    enumerable: true,
    get: () => cur,
    set: (next: TcpState) => {
      if (next === cur) return;
      if (!LEGAL[cur].includes(next)) trace.illegal.push(`${cur} -> ${next}`);
      cur = next;
      trace.states.push(next);
    },
  });
  let onClose = conn.onClose;
  let onEnd = conn.onEnd;
  Object.defineProperty(conn, 'onClose', {
    configurable: true,
    get: () => (e?: Parameters<NonNullable<typeof onClose>>[0]) => {
      trace.closes.push(e);
      onClose?.(e);
    },
    set: (f: typeof onClose) => (onClose = f),
  });
  Object.defineProperty(conn, 'onEnd', {
    configurable: true,
    get: () => () => {
      trace.ends++;
      onEnd?.();
    },
    set: (f: typeof onEnd) => (onEnd = f),
  });
  return trace as StateTrace & { ends: number };
}

// ------------------------------------------------------------------------------------------------ bulk transfer

export interface BulkOptions extends SimPairOptions {
  /** Bytes A sends to B. */
  bytes: number;
  /** Give up after this much virtual time (ms). Default 600 s. */
  limitMs?: number;
  /** Bytes read per read() call on B. Default 64 KiB. */
  readChunk?: number;
}

export interface BulkResult {
  /** Bytes B read, all checked against the stream A wrote. */
  received: number;
  /** Virtual ms from connect() to the last byte read by B. */
  elapsedMs: number;
  /** Goodput, bits per virtual second. */
  goodputBps: number;
  /** A's connection info at the end of the transfer. */
  retransmits: number;
  rtoCount: number;
  fastRecoveries: number;
  /** Frames the bottleneck (A's rate limiter) dropped because its queue was full, and lost at random. */
  queueDrops: number;
  randomDrops: number;
  /** What the wire taps of both ends reported (window right edge moved left, data beyond the offered edge). */
  wireViolations: WireViolation[];
  sim: SimPair;
  client: TcpConnection;
}

/** Connect A -> B:80, send `bytes` of stream 1 as fast as the window allows, read on B, verify every byte. */
export function bulkTransfer(o: BulkOptions): BulkResult {
  const sim = makeSimPair(o);
  const listener = sim.b.tcp!.listen(0, 80, 4);
  let server: TcpConnection | undefined;
  listener.onConnection = (c) => (server = c);
  const start = sim.clock.now();
  const client = sim.a.tcp!.connect(start, B_IP, 80);
  const chunk = new Uint8Array(o.readChunk ?? 65536);
  const total = o.bytes;
  const src = streamBytes(1, 0, total);
  let sent = 0;
  let received = 0;
  let mismatch = -1;
  let doneAt = NaN;
  const pump = (): boolean => {
    const now = sim.clock.now();
    if (sent < total && (client.state === 'ESTABLISHED' || client.state === 'CLOSE-WAIT')) {
      sent += client.send(now, src.subarray(sent));
    }
    if (server) {
      for (let n = server.read(now, chunk); n > 0; n = server.read(now, chunk)) {
        const bad = streamMismatch(1, received, chunk.subarray(0, n));
        if (bad >= 0 && mismatch < 0) mismatch = received + bad;
        received += n;
      }
    }
    if (received >= total && Number.isNaN(doneAt)) doneAt = now;
    return received >= total || mismatch >= 0 || client.state === 'CLOSED';
  };
  sim.run({ stopWhen: pump, until: start + (o.limitMs ?? 600_000) });
  if (mismatch >= 0) throw new Error(`bulkTransfer: byte ${mismatch} differs from what was sent`);
  const elapsedMs = (Number.isNaN(doneAt) ? sim.clock.now() : doneAt) - start;
  const info = client.info();
  return {
    received,
    elapsedMs,
    goodputBps: elapsedMs > 0 ? (received * 8 * 1000) / elapsedMs : 0,
    retransmits: info.retransmits,
    rtoCount: info.rtoCount,
    fastRecoveries: info.fastRecoveries,
    queueDrops: sim.faultA.faultStats.tx.rateLimitedDrops,
    randomDrops: sim.faultA.faultStats.tx.dropped,
    wireViolations: [...sim.tapA.violations, ...sim.tapB.violations],
    sim,
    client,
  };
}
