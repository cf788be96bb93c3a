/**
 * `tcp-mitm`: TCP end to end through a hostile middle. Stacks A (10.0.0.1) and B (10.0.0.2) are on two memory
 * links joined by the fuzzer, which sees every frame in both directions and applies the input's operations in
 * order: pass, drop, duplicate, hold back (reorder), corrupt a byte (checksums left as they are, so the receiver
 * must catch it), or delay. A sends a patterned stream to B and closes.
 *
 * Oracles, besides every invariant of lib/invariants.ts on both stacks after each step: what B has read is always
 * a prefix of what A sent (no corruption, duplication, reordering or loss gets through), and once the faults run
 * out the transfer completes, B sees the FIN, unless a connection reported an error (ETIMEDOUT after too many
 * consecutive losses is allowed).
 *
 * Input: byte 0 picks the size (1 to 64 KiB), then one byte per frame crossing the middle: op = b & 7, and the
 * high bits are the op's argument.
 */
import { memoryLink, type MemoryDriver } from '../../drivers/memory/index.js';
import { seededRng } from '../../protocols/util/rng.js';
import type { TcpConnection } from '../../protocols/tcp/connection.js';
import { NetStack } from '../../src/stack/stack.js';
import fc from 'fast-check';
import { checkStack } from '../lib/invariants.js';
import { A_CAPS, IP_A, IP_B, MAC_A, MAC_B } from '../lib/live.js';
import { check, type FuzzTarget } from '../lib/target.js';

const PASS = 0;
const DROP = 1;
const DUP = 2;
const HOLD = 3;
const CORRUPT = 4;
const DELAY = 5;

interface InFlight {
  at: number;
  to: MemoryDriver;
  frame: Uint8Array;
}

/** Rounds of traffic at one instant before it counts as a storm (a whole 64 KiB transfer needs a few hundred). */
export const STORM_ROUNDS = 5000;

function pattern(i: number): number {
  return (i * 131 + (i >>> 8)) & 0xff;
}

export function runMitm(input: Uint8Array): string {
  const size = 1 + ((input[0] ?? 0) * 257) % 65536;
  const ops = input.subarray(1);
  const [da, ma] = memoryLink({ hwAddresses: [MAC_A, Uint8Array.of(2, 0, 0, 0, 0, 0xa)] });
  const [db, mb] = memoryLink({ hwAddresses: [MAC_B, Uint8Array.of(2, 0, 0, 0, 0, 0xb)] });
  const a = new NetStack({ driver: da, mac: MAC_A, addresses: [{ address: IP_A, prefixLen: 24 }], rng: seededRng(1), ...A_CAPS });
  const b = new NetStack({ driver: db, mac: MAC_B, addresses: [{ address: IP_B, prefixLen: 24 }], rng: seededRng(2), ...A_CAPS });
  a.neighbours.addStatic(IP_B, MAC_B);
  b.neighbours.addStatic(IP_A, MAC_A);
  let now = 1000;
  const received: number[] = [];
  let bEnded = false;
  let bConn: TcpConnection | undefined;
  const buf = new Uint8Array(8192);
  const l = b.tcp!.listen(0, 80, 4);
  l.onConnection = (c) => {
    bConn = c;
    c.onReadable = () => {
      for (;;) {
        const n = c.read(now, buf);
        if (n === 0) break;
        for (let i = 0; i < n; i++) {
          const k = received.length;
          check(buf[i] === pattern(k), () => `B read byte ${k} as ${buf[i]}, A sent ${pattern(k)}`);
          received.push(buf[i]!);
        }
      }
    };
    c.onEnd = () => {
      bEnded = true;
      c.close(now);
    };
  };
  const conn = a.tcp!.connect(now, IP_B, 80);
  let sent = 0;
  const push = (): void => {
    while (sent < size && conn.state !== 'CLOSED') {
      const n = Math.min(4096, size - sent);
      const chunk = new Uint8Array(n);
      for (let i = 0; i < n; i++) chunk[i] = pattern(sent + i);
      let w = 0;
      try {
        w = conn.send(now, chunk);
      } catch {
        return; // the connection failed; the oracle below looks at why
      }
      sent += w;
      if (w < n) return;
    }
    if (sent >= size && conn.state === 'ESTABLISHED') conn.shutdown(now);
  };
  conn.onConnect = push;
  conn.onWritable = push;
  let op = 0;
  const held: InFlight[] = [];
  const later: InFlight[] = [];
  const deliver = (to: MemoryDriver, frame: Uint8Array): void => {
    const out = to.txReserve(frame.length);
    if (out === null) return;
    out.set(frame);
    to.txCommit(now, frame.length);
  };
  const middle = (from: MemoryDriver, to: MemoryDriver): number => {
    let n = 0;
    const sink = (frame: Uint8Array): void => {
      n++;
      const code = op < ops.length ? ops[op++]! : PASS;
      const kind = code & 7;
      const arg = code >>> 3;
      const copy = frame.slice();
      if (kind === DROP) return;
      if (kind === CORRUPT) {
        copy[(arg * 37 + op) % copy.length]! ^= 1 << (arg & 7) || 1;
      }
      if (kind === HOLD) {
        held.push({ at: 0, to, frame: copy });
        return;
      }
      if (kind === DELAY) {
        later.push({ at: now + 1 + arg * 50, to, frame: copy });
        return;
      }
      deliver(to, copy);
      if (kind === DUP) deliver(to, copy);
      while (held.length > 0) {
        const h = held.shift()!;
        deliver(h.to, h.frame);
      }
    };
    while (from.receive(now, 256, sink) > 0);
    return n;
  };
  // The horizon counts from the last fault: a run of drops can push RTO backoff (up to 120 s a step) far past
  // any fixed time from the start, and the oracle is about what happens once the faults are over.
  const HORIZON = 30 * 60_000;
  let faultsOverAt: number | undefined;
  let busy = 0; // rounds with frames moving while the clock stands still
  for (let round = 0; round < 200_000; round++) {
    let work = a.poll(now) + b.poll(now);
    work += middle(ma, mb) + middle(mb, ma);
    const full = (round & 63) === 0;
    checkStack(a, now, full);
    checkStack(b, now, full);
    if (work > 0) {
      // No timer is involved when frames keep flowing at one instant: each side answers the other at once.
      check(++busy < STORM_ROUNDS, () => `ACK storm: frames kept flowing for ${STORM_ROUNDS} rounds at t=${now} ms without the clock moving (A ${conn.state}, B ${bConn?.state})`);
      continue;
    }
    if (held.length > 0) {
      for (const h of held.splice(0)) deliver(h.to, h.frame);
      continue;
    }
    let next = minOf(a.pollAt(now), b.pollAt(now));
    for (const d of later) next = minOf(next, d.at);
    if (faultsOverAt === undefined && op >= ops.length && held.length === 0 && later.length === 0) faultsOverAt = now;
    if (next === undefined || (faultsOverAt !== undefined && next > faultsOverAt + HORIZON)) break;
    if (next > now) busy = 0;
    now = Math.max(now, next);
    for (let i = later.length - 1; i >= 0; i--) {
      if (later[i]!.at <= now) {
        const d = later.splice(i, 1)[0]!;
        deliver(d.to, d.frame);
      }
    }
  }
  checkStack(a, now);
  checkStack(b, now);
  const failed = conn.error !== undefined || bConn?.error !== undefined;
  if (!failed) {
    check(received.length === size, () => `transfer incomplete: B read ${received.length} of ${size} bytes (A ${conn.state}, B ${bConn?.state}), faults over`);
    check(bEnded, () => `B never saw A's FIN (A ${conn.state}, B ${bConn?.state})`);
  }
  return `${failed ? `err:${conn.error ?? bConn?.error}` : 'ok'}|${Math.min(op, 64) >> 3}|${a.stats.tcp!.retransmittedSegs > 0 ? 'r' : ''}${a.stats.tcp!.fastRecoveries > 0 ? 'f' : ''}${a.stats.tcp!.dsacksReceived > 0 ? 'd' : ''}${b.stats.tcp!.oooDrops > 0 ? 'o' : ''}`;
}

function minOf(x: number | undefined, y: number | undefined): number | undefined {
  if (x === undefined) return y;
  if (y === undefined) return x;
  return Math.min(x, y);
}

export const tcpMitmTarget: FuzzTarget = {
  name: 'tcp-mitm',
  description: 'TCP transfer A -> B through a middle that drops, duplicates, reorders, corrupts and delays frames',
  format: 'bytes',
  maxLen: 400,
  seeds: () => [Uint8Array.of(40), Uint8Array.of(200, 0, 0, 0, 1, 0, 0, 2, 0, 3, 0, 0, 4), Uint8Array.of(255, ...new Array(30).fill(0).map((_, i) => (i % 4 === 0 ? DROP : PASS)))],
  generator: () =>
    fc.tuple(
      fc.integer({ min: 0, max: 255 }),
      fc.array(fc.oneof({ weight: 8, arbitrary: fc.constant(PASS) }, { weight: 2, arbitrary: fc.integer({ min: 0, max: 31 }).map((x) => (x << 3) | DROP) }), { maxLength: 4 }),
      fc.array(fc.oneof({ weight: 6, arbitrary: fc.constant(PASS) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) }), { maxLength: 200 }),
    ).map(([s, head, rest]) => Uint8Array.from([s, ...head, ...rest])),
  run: runMitm,
};
