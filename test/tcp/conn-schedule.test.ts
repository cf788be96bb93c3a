/**
 * The layer's schedule (protocols/tcp/conn-timers.ts): the list of connections whose output is retried on the next
 * poll. Each queued connection's output runs once per poll, at most `outputBudget` of them; one that queues again
 * during its output waits for the next poll; one forgotten (closed) meanwhile is skipped.
 */
import { describe, expect, it, vi } from 'vitest';
import { ConnTimers as Schedule } from '../../protocols/tcp/conn-timers.js';
import { DeadlineHeap } from '../../protocols/util/deadline-heap.js';
import type { TcpConnection } from '../../protocols/tcp/connection.js';

/** The fields the schedule reads and writes (no timers armed). */
function conn(name: string): TcpConnection {
  return { name, state: 'ESTABLISHED', timerAt: Infinity, heapAt: Infinity, txPending: true, tmr: { txQueued: false } } as unknown as TcpConnection;
}
const nameOf = (c: TcpConnection): string => (c as unknown as { name: string }).name;

describe('the schedule of pending output', () => {
  it('queues a connection once, however often it is woken, and runs its output once per poll', () => {
    const s = new Schedule(() => 1);
    const a = conn('a');
    s.wake(a);
    s.wake(a);
    expect(s.outputPending).toBe(true);
    const ran: string[] = [];
    s.runDue(0, 16, 16, (c) => ran.push(nameOf(c)), () => {});
    expect(ran).toEqual(['a']);
    expect(s.outputPending).toBe(false);
    s.runDue(1, 16, 16, (c) => ran.push(nameOf(c)), () => {});
    expect(ran).toEqual(['a']);
  });

  it('keeps what exceeds the budget, in order, for the next poll', () => {
    const s = new Schedule(() => 3);
    const cs = ['a', 'b', 'c'].map(conn);
    for (const c of cs) s.wake(c);
    const ran: string[] = [];
    s.runDue(0, 2, 16, (c) => ran.push(nameOf(c)), () => {});
    expect(ran).toEqual(['a', 'b']);
    expect(s.outputPending).toBe(true);
    s.runDue(1, 2, 16, (c) => ran.push(nameOf(c)), () => {});
    expect(ran).toEqual(['a', 'b', 'c']);
    expect(s.outputPending).toBe(false);
  });

  it('retries on the next poll a connection that queues again during its own output', () => {
    const s = new Schedule(() => 1);
    const a = conn('a');
    s.wake(a);
    let calls = 0;
    s.runDue(0, 16, 16, (c) => {
      calls++;
      s.wake(c); // still no transmit buffer
    }, () => {});
    expect(calls).toBe(1);
    expect(s.outputPending).toBe(true);
    s.runDue(1, 16, 16, () => calls++, () => {});
    expect(calls).toBe(2);
  });

  it('skips a connection forgotten by an earlier output in the same poll, and forgets one queued outside', () => {
    const s = new Schedule(() => 3);
    const [a, b, c] = ['a', 'b', 'c'].map(conn) as [TcpConnection, TcpConnection, TcpConnection];
    s.wake(a);
    s.wake(b);
    s.wake(c);
    const ran: string[] = [];
    s.runDue(0, 16, 16, (x) => {
      ran.push(nameOf(x));
      if (x === a) s.forget(b); // a's output closes b
    }, () => {});
    expect(ran).toEqual(['a', 'c']);
    s.wake(a);
    s.wake(c);
    s.forget(a);
    s.runDue(1, 16, 16, (x) => ran.push(nameOf(x)), () => {});
    expect(ran).toEqual(['a', 'c', 'c']);
    expect(s.outputPending).toBe(false);
  });
});

/** A connection with a timer at `at` and no output pending. */
function timed(at: number): TcpConnection {
  return { state: 'ESTABLISHED', timerAt: at, heapAt: Infinity, txPending: false, tmr: { txQueued: false } } as unknown as TcpConnection;
}

describe('the schedule of timers', () => {
  it('leaves an entry whose timer moved later where it is until it is due, then fires the timer at its own time', () => {
    const s = new Schedule(() => 1);
    const c = timed(10);
    s.wake(c);
    const push = vi.spyOn(DeadlineHeap.prototype, 'push');
    const fired: number[] = [];
    // A request/response exchange: the timer moves later on every segment, and the layer polls between them.
    for (let now = 1; now < 10; now++) {
      c.timerAt = now + 10;
      s.wake(c); // later than the entry: nothing to file
      s.runDue(now, 16, 16, () => {}, (_c, t) => fired.push(t));
    }
    expect(push).not.toHaveBeenCalled(); // no poll before the entry's time re-filed it
    expect(fired).toEqual([]);
    s.runDue(10, 16, 16, () => {}, (_c, t) => fired.push(t)); // the entry surfaces: re-filed at 19, not fired
    expect(push).toHaveBeenCalledTimes(1);
    expect(fired).toEqual([]);
    s.runDue(18.9, 16, 16, () => {}, (_c, t) => fired.push(t));
    expect(fired).toEqual([]);
    const fire = (x: TcpConnection, t: number): void => {
      fired.push(t);
      x.timerAt = Infinity; // what a fired timer leaves
    };
    s.runDue(19, 16, 16, () => {}, fire);
    expect(fired).toEqual([19]);
    push.mockRestore();
  });

  it("answers the host's next-poll question between messages without re-filing or waking it (a lower bound)", () => {
    // The layer's pollAt (nextAt) is asked on every event-loop turn. In a request/response exchange the timer moves
    // later on every segment; re-filing it on each ask woke the stack's timer phase twice per round trip.
    let armed = 0;
    const s = new Schedule(() => 1, () => armed++);
    const c = timed(10);
    s.wake(c);
    expect(armed).toBe(1); // a new timer, earlier than anything filed: the host must know
    const push = vi.spyOn(DeadlineHeap.prototype, 'push');
    for (let now = 1; now < 10; now++) {
      c.timerAt = now + 10;
      s.wake(c);
      expect(s.nextAt()).toBe(10); // the entry's time: no later than the timer, so a safe time to poll
      s.runDue(now, 16, 16, () => {}, () => expect.unreachable('nothing is due before 10'));
    }
    expect(push).not.toHaveBeenCalled();
    expect(armed).toBe(1);
    s.runDue(10, 16, 16, () => {}, () => expect.unreachable('the timer moved to 19')); // surfaces: re-filed
    expect(push).toHaveBeenCalledTimes(1);
    expect(armed).toBe(1); // re-filed later inside a poll: the host asks for the next time after it anyway
    expect(s.nextAt()).toBe(19);
    c.state = 'CLOSED';
    expect(s.nextAt()).toBe(Infinity); // a closed connection's entry is dropped on the way
    push.mockRestore();
  });

  it('still fires a timer moved earlier than the entry at its earlier time', () => {
    const s = new Schedule(() => 1);
    const c = timed(10);
    s.wake(c);
    s.runDue(1, 16, 16, () => {}, () => {});
    c.timerAt = 5;
    s.wake(c);
    const fired: number[] = [];
    const fire = (x: TcpConnection, t: number): void => {
      fired.push(t);
      x.timerAt = Infinity;
    };
    s.runDue(4.9, 16, 16, () => {}, fire);
    expect(fired).toEqual([]);
    s.runDue(5, 16, 16, () => {}, fire);
    expect(fired).toEqual([5]);
    expect(s.nextAt()).toBe(Infinity); // the entry at 10 was stale: dropped, nothing left
  });
});
