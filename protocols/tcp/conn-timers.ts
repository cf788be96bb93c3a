/**
 * The TCP layer's schedule of its connections: when each one's next timer is due, and which ones have output
 * waiting for a transmit buffer. The layer asks it for the next time it must poll (`nextAt`), wakes it when a
 * connection's timer or output changes (`wake`), and has it run what is due (`runDue`).
 *
 * Timers are a binary min-heap of (time, connection) with lazy deletion. A connection has an entry at `heapAt` (its
 * earliest pushed time); a timer that moves later (the RTO restarting on every ACK) pushes nothing: when the entry
 * surfaces it is re-pushed at the connection's current `timerAt`. Entries whose time is not the connection's
 * `heapAt`, or whose connection closed, are stale and dropped when they surface.
 */
import { DeadlineHeap } from '../util/deadline-heap.js';
import type { TcpConnection } from './connection.js';

/** What an emptied slot holds (no connection kept alive by it). */
const NO_CONN = undefined as unknown as TcpConnection;

export class ConnTimers {
  private readonly heap = new DeadlineHeap<TcpConnection>();
  /**
   * Connections whose output found no transmit buffer (or was deferred): retried on the next poll. The first
   * `nPending` entries, each marked `tmr.txQueued`. Not a Set: this one lives as long as the layer (in V8's old
   * generation), and a Set emptied by `delete` (left under half full) gets a new table, allocated in the old
   * generation: once per receive batch in bulk receive. Each old-generation allocation lets V8 check its limit,
   * which counts the receive slabs allocated since the last mark-compact, and so started one mark-compact per few MB
   * received (docs/performance-targets.md, branch rxgc). The array only grows, and only with more connections.
   */
  private readonly pendingTx: TcpConnection[] = [];
  private nPending = 0;
  /** The entries a runDue takes out of pendingTx (reused; cleared after). */
  private readonly batch: TcpConnection[] = [];

  /**
   * `live()`: how many connections the layer holds (the heap is rebuilt when stale entries outnumber them).
   * `armed()`: called whenever an entry is filed or output queued, so a host that skips polls while nothing is due
   * (TcpHost.timerArmed) polls again.
   */
  constructor(
    private readonly live: () => number,
    private readonly armed: () => void = () => {},
  ) {}

  get outputPending(): boolean {
    return this.nPending > 0;
  }

  /** A connection's timer or pending output changed. */
  wake(conn: TcpConnection): void {
    // Push only when the timer moves earlier than the connection's entry (rearm runs on nearly every ACK).
    if (conn.timerAt < conn.heapAt) this.push(conn);
    if (conn.txPending && !conn.tmr.txQueued) {
      conn.tmr.txQueued = true;
      this.pendingTx[this.nPending++] = conn;
      this.armed();
    }
  }

  /** The connection leaves the schedule (closed, or retired to a TIME-WAIT record). */
  forget(conn: TcpConnection): void {
    conn.heapAt = Infinity;
    if (!conn.tmr.txQueued) return;
    conn.tmr.txQueued = false; // an entry of a runDue's batch is skipped there
    const list = this.pendingTx;
    for (let i = 0; i < this.nPending; i++) {
      if (list[i] !== conn) continue;
      list.copyWithin(i, i + 1, this.nPending);
      list[--this.nPending] = NO_CONN;
      return;
    }
  }

  /** Drop stale entries when they outnumber the live connections (they would keep released connections alive). */
  compact(): void {
    if (this.heap.length > 4 * this.live() + 64) this.rebuild();
  }

  /**
   * A time no later than the earliest armed timer: the top entry's, stale or not, or Infinity. A plain double either
   * way, so V8 need not box it (a `number | undefined` result is a heap number each time it is a number).
   *
   * Entries of closed connections and superseded ones are dropped on the way; a live entry whose timer moved later
   * is not re-filed: every connection with a timer has a live entry no later than its timer, so its time is a lower
   * bound, and a poll at that time re-files it (runDue). Re-filing here ran whenever the timer had moved later, and
   * the layer's pollAt is asked on every event-loop turn: in a request/response exchange through the API that was
   * every turn after a segment (the tail-loss probe restarts per send, the delayed ACK is armed per receive), a heap
   * pop and push and a wake of the stack's timer phase per message, so the phase ran on every poll (two runs and
   * four wakes per round trip; twelfth session, docs/performance-targets.md). Now an entry whose timer moved later
   * costs one early poll when its time comes.
   */
  nextAt(): number {
    return this.dropStale() ? this.heap.topAt : Infinity;
  }

  /** Drop entries of closed connections and superseded ones from the top: true when a live entry is left there. */
  private dropStale(): boolean {
    const h = this.heap;
    for (;;) {
      if (h.length === 0) return false;
      const c = h.top;
      if (c.state !== 'CLOSED' && h.topAt === c.heapAt) return true;
      h.pop();
    }
  }

  /**
   * Drop stale entries until the top is a live one: true when there is one (then `heap.topAt` is the earliest
   * armed timer). A boolean, so callers comparing times pass no double across a call.
   */
  private settle(): boolean {
    const h = this.heap;
    for (;;) {
      if (!this.dropStale()) return false;
      const at = h.topAt;
      const c = h.top;
      if (c.timerAt > at) {
        // The timer moved later: re-file it. No wake: settling runs inside a poll's timer phase (runDue), which asks
        // for the next time after it, and a later entry needs no earlier poll.
        h.pop();
        c.heapAt = Infinity;
        if (c.timerAt !== Infinity) this.file(c);
        continue;
      }
      return true;
    }
  }

  /**
   * Whether the earliest timer is due by `now` (nextAt() <= now), as a boolean: the double nextAt returns is a
   * heap number each time the call is not inlined, and runDue asks on every poll.
   *
   * Settles only when the top entry is due: every connection with a timer has a live entry no later than its
   * timer (`wake` files an earlier one, `settle` re-files a later one at its new time), so a top entry after `now`,
   * stale or not, means nothing is due. Settling first re-filed the top entry on every poll after its timer moved
   * later, which in a request/response exchange is every poll after a segment (the RTO and TLP restart per send,
   * the delayed ACK is armed per receive and cleared per send): 4 heap pushes and pops per 64 B transaction, and
   * the connection's entry then lay at the later time, so the next earlier timer woke the layer again (2 `connWake`
   * per transaction). Unsettled, the entry stays at the earliest time and surfaces once.
   */
  private dueBy(now: number): boolean {
    const h = this.heap;
    if (h.length === 0 || h.topAt > now) return false;
    return this.settle() && h.topAt <= now;
  }

  /**
   * Retry pending output, at most `outputBudget` connections, each once (`output` is called for each); then run
   * the timers due by `now`, at most `timerBudget` connections (`fire` is called for each, and the connection
   * re-filed after).
   */
  runDue(now: number, outputBudget: number, timerBudget: number, output: (c: TcpConnection, now: number) => void, fire: (c: TcpConnection, now: number) => void): void {
    if (this.nPending > 0) {
      // The first `budget` connections are taken out before any output runs: a connection whose output finds no
      // transmit buffer again re-enters the list, and is retried on the next poll, not again in this one (one
      // blocked connection was retried up to timersPerPoll times per poll: about 650 failed transmits per
      // event-loop turn over the raw-IP driver, 2026-12-03, with one packet leaving per turn).
      const n = Math.min(outputBudget, this.nPending);
      const list = this.pendingTx;
      const batch = this.batch;
      for (let i = 0; i < n; i++) batch[i] = list[i]!;
      list.copyWithin(0, n, this.nPending);
      for (let i = this.nPending - n; i < this.nPending; i++) list[i] = NO_CONN;
      this.nPending -= n;
      for (let i = 0; i < n; i++) {
        const c = batch[i]!;
        batch[i] = NO_CONN;
        if (!c.tmr.txQueued) continue; // forgotten meanwhile (closed by an earlier one's output)
        c.tmr.txQueued = false;
        output(c, now);
      }
    }
    // Only due timers run here: output still pending is retried once per poll, above, and must not make every
    // timer look due (that spun ~1e6 onTimer calls per poll). The rest of the due timers stay due, so the layer's
    // pollAt answers `now` and the next poll (after the stack has taken in what arrived meanwhile) continues.
    for (let guard = 0; guard < timerBudget; guard++) {
      if (!this.dueBy(now)) break;
      const c = this.heap.top;
      this.heap.pop();
      c.heapAt = Infinity;
      fire(c, now);
      if (c.state !== 'CLOSED' && c.timerAt < c.heapAt) {
        if (c.timerAt <= now) c.timerAt = now + 1e-3; // a timer that re-armed in the past runs on the next poll
        this.push(c);
      }
    }
  }

  /** File the connection's timer and wake the host: it may be earlier than anything the host polls for. */
  private push(c: TcpConnection): void {
    this.file(c);
    this.armed();
  }

  private file(c: TcpConnection): void {
    this.compact();
    c.heapAt = c.timerAt;
    this.heap.push(c.timerAt, c);
  }

  /** Drop stale entries: one entry per open connection with a timer. */
  private rebuild(): void {
    const conns = this.heap.takeAll();
    for (const c of conns) c.heapAt = Infinity;
    for (const c of conns) {
      if (c.state !== 'CLOSED' && c.timerAt !== Infinity && c.heapAt === Infinity) this.push(c);
    }
  }
}
