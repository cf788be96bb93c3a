/**
 * Work an API object defers until its stack's current (or next) poll has returned: run from the poll loop's
 * afterPoll hook, so it costs no process.nextTick, queueMicrotask or closure (measured with bench/udp-alloc.ts:
 * a nextTick per UDP send was about 450 B of garbage, more than all the stack's own receive work).
 *
 * Ownership: the queue holds each object until its runDeferred() has been called once; an object adds itself at
 * most once per batch (it keeps its own "scheduled" flag). Work added while a batch runs waits for the next poll.
 * An exception from one object's work does not stop the others: it is rethrown from a microtask, as an uncaught
 * exception from a tick would have been.
 */
export interface Deferred {
  runDeferred(): void;
}

export class DeferQueue {
  private pending: (Deferred | undefined)[] = [];
  private count = 0;
  private spare: (Deferred | undefined)[] = [];

  get length(): number {
    return this.count;
  }

  add(d: Deferred): void {
    this.pending[this.count++] = d;
  }

  /** Run the batch queued so far (returns its size); slots are cleared and the two arrays swapped, never reallocated. */
  run(): number {
    const n = this.count;
    if (n === 0) return 0;
    const batch = this.pending;
    this.pending = this.spare;
    this.spare = batch;
    this.count = 0;
    for (let i = 0; i < n; i++) {
      const d = batch[i]!;
      batch[i] = undefined;
      try {
        d.runDeferred();
      } catch (err) {
        queueMicrotask(() => {
          throw err;
        });
      }
    }
    return n;
  }
}
